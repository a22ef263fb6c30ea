/**
 * Shared set-up for the emulator and aws-elbv2 tests: real app servers for each pool, the
 * fixture config pointed at them, and a real AWS SDK client for the emulator's endpoint.
 */
import { readFileSync } from 'node:fs'
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
