/**
 * Shared set-up for the emulator and aws-elbv2 tests: real app servers for each pool, the
 * fixture config pointed at them, a real AWS SDK client for the emulator's endpoint, and the AWS
 * CLI v2 as an independent one.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { parse } from 'yaml'
import type { AlbConfigInput, AlbEmulator } from '../../src/local/alb/index.js'
import { closeApps, startPoolApps, type PoolApps } from '../support/http-app.js'

export { closeApps, startPoolApps, type PoolApps }

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

export const fixtureFile = new URL('../fixtures/alb/shop.yaml', import.meta.url).pathname

/** The fixture config with each pool's targets replaced by the given apps. */
export function fixtureConfig(apps: PoolApps, edit?: (config: FixtureConfig) => void): AlbConfigInput {
  const config = parse(readFileSync(fixtureFile, 'utf8')) as FixtureConfig
  for (const tg of config.targetGroups) {
    const pool = tg.name === 'shop-blue' ? apps.blue : apps.green
    tg.targets = pool.map((app) => `${app.address}:${app.port}`)
  }
  edit?.(config)
  return config as unknown as AlbConfigInput
}

export interface FixtureConfig {
  region: string
  loadBalancer: { name: string }
  instances?: Record<string, string>
  targetGroups: {
    name: string
    targetType?: string
    targets: string[]
    healthCheck?: Record<string, unknown>
  }[]
  listeners: { port: number; defaultAction: Record<string, unknown>; rules?: Record<string, unknown>[] }[]
}

export async function sdkClient(endpoint: string, options: { maxAttempts?: number } = {}) {
  const sdk = await import('@aws-sdk/client-elastic-load-balancing-v2')
  const client = new sdk.ElasticLoadBalancingV2Client({
    region: 'eu-west-1',
    endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: options.maxAttempts ?? 3,
  })
  return { sdk, client }
}

/** Resolves with the rejection of `promise` (fails if it resolves). */
export async function rejection<T = Error & Record<string, unknown>>(promise: Promise<unknown>): Promise<T> {
  try {
    await promise
  } catch (error) {
    return error as T
  }
  throw new Error('expected a rejection, but the call succeeded')
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Sets the first listener's forward to the fixture's two target groups with these weights (0–999). */
export async function setListenerWeights(
  emulator: AlbEmulator,
  weights: { blue: number; green: number },
): Promise<void> {
  const arn = (name: string): string => emulator.targetGroups.find((tg) => tg.name === name)!.arn
  const { sdk, client } = await sdkClient(emulator.apiUrl)
  try {
    await client.send(
      new sdk.ModifyListenerCommand({
        ListenerArn: emulator.listeners[0].arn,
        DefaultActions: [
          {
            Type: 'forward',
            ForwardConfig: {
              TargetGroups: [
                { TargetGroupArn: arn('shop-blue'), Weight: weights.blue },
                { TargetGroupArn: arn('shop-green'), Weight: weights.green },
              ],
            },
          },
        ],
      }),
    )
  } finally {
    client.destroy()
  }
}

/** Debian's AWS CLI v2 (botocore): an independent client for the emulator. */
export const awsCli = '/usr/bin/aws'

/**
 * Whether the AWS CLI (and `files` it needs) are here. Under CI=true a missing one fails the run;
 * elsewhere the suite is skipped with the reason printed.
 */
export function haveAwsCli(files: string[] = []): boolean {
  if ([awsCli, ...files].every((file) => existsSync(file))) return true
  const reason = `the AWS CLI v2 (${awsCli})${files.length ? ' or its service models' : ''} is not installed (run .ci/run, or apt-get install awscli)`
  if (process.env.CI === 'true') throw new Error(`${reason}; CI requires it`)
  console.warn(`skipping: ${reason}`)
  return false
}

/**
 * Runs `/usr/bin/aws <service> …` against `endpoint`, with test keys and no config or metadata
 * lookups; resolves with its exit code, its parsed stdout (`{}` when it printed nothing) and stderr.
 */
export function awsCall(
  endpoint: string,
  region: string,
  service: string,
  args: string[],
): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      awsCli,
      ['--endpoint-url', endpoint, '--region', region, '--output', 'json', service, ...args],
      {
        timeout: 60_000,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_PAGER: '',
          AWS_MAX_ATTEMPTS: '1',
        },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 255) : 0
        // Operations with an empty result (RegisterTargets) print nothing.
        resolve({ code, json: stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : {}, stderr })
      },
    )
  })
}
