/**
 * The local stack with HAProxy in front instead of the ELBv2 emulator: a real HAProxy
 * (test/support/haproxy.ts, from a temp prefix) balancing the demo app's two pools, on a fresh
 * database seeded with the v1 schema. test/fixtures/drills/haproxy-plan.yaml releases on it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseServersState, runtimeCommand } from '../../src/lb/haproxy-runtime.js'
import { startDemoApp, type DemoApp } from '../../src/local/demo-app.js'
import { seedProfiles } from '../../src/local/stack.js'
import {
  builtCliEnv,
  distinctStates,
  percentages,
  sampleProduction,
  type CrashWalkTarget,
  type WeightLog,
  type Weights,
} from './crash-walk.js'
import { dbPassword, repoRoot } from './e2e.js'
import { startHaproxy, type TestHaproxy } from './haproxy.js'
import type { TestApp } from './http-app.js'
import { createTestDatabase } from './postgres.js'

export const haproxyPlan = join(repoRoot, 'test/fixtures/drills/haproxy-plan.yaml')

export interface HaproxyStack {
  app: DemoApp
  haproxy: TestHaproxy
  databaseUrl: string
  /** HAProxy's front end, without a trailing slash. */
  productionUrl: string
  /** Environment for the CLI and haproxy-plan.yaml. */
  cliEnv: Record<string, string>
  close(): Promise<void>
}

export async function startHaproxyStack(
  options: { profiles?: number; sticky?: 'cookie' | 'table' } = {},
): Promise<HaproxyStack> {
  const url = new URL(await createTestDatabase('drill'))
  url.password = dbPassword
  const databaseUrl = url.toString()
  await seedProfiles(databaseUrl, options.profiles ?? 1000)
  const app = await startDemoApp({ databaseUrl, initialVersion: '1.0.0' })
  const stateDir = mkdtempSync(join(tmpdir(), 'bluegreen-state-'))
  let haproxy: TestHaproxy
  try {
    // startHaproxy reads only the address and port of each app server.
    const servers = (pool: 'blue' | 'green') =>
      app.servers
        .filter((s) => s.pool === pool)
        .map((s) => ({ address: '127.0.0.1', port: s.port }) as TestApp)
    haproxy = await startHaproxy({
      apps: { blue: servers('blue'), green: servers('green') },
      live: 'blue',
      ...(options.sticky ? { sticky: options.sticky } : {}),
    })
  } catch (error) {
    await app.close()
    rmSync(stateDir, { recursive: true, force: true })
    throw error
  }
  const productionUrl = haproxy.trafficUrl.replace(/\/$/, '')
  return {
    app,
    haproxy,
    databaseUrl,
    productionUrl,
    cliEnv: {
      DATABASE_URL: databaseUrl,
      BLUEGREEN_HAPROXY_API: haproxy.config.runtimeApi,
      BLUEGREEN_HAPROXY_STATE: haproxy.config.stateFile ?? '',
      BLUEGREEN_DEMO_URL: productionUrl,
      BLUEGREEN_DEMO_CONTROL: app.controlUrl,
      BLUEGREEN_STATE_DIR: stateDir,
      CI: 'true',
      ...builtCliEnv,
    },
    async close() {
      await haproxy.stop()
      await app.close()
      rmSync(stateDir, { recursive: true, force: true })
    },
  }
}

/**
 * HAProxy's pool shares, polled over the runtime API (`show servers state`) every `intervalMs`.
 * HAProxy has no change feed, so a state shorter than the interval can be missed; the shift
 * between two asked splits sets one server at a time, so in-between states are seen too.
 */
export function haproxyWeightLog(stack: HaproxyStack, intervalMs = 20): WeightLog {
  const { runtimeApi, backend } = stack.haproxy.config
  const log = distinctStates()
  const readWeights = async (): Promise<Weights> => {
    const servers = parseServersState(await runtimeCommand(runtimeApi, `show servers state ${backend}`))
    if (!servers) throw new Error(`HAProxy did not answer "show servers state ${backend}"`)
    const raw = { blue: 0, green: 0 }
    for (const server of servers) {
      const pool = server.name.startsWith('blue') ? 'blue' : 'green'
      // A server in maintenance or drain takes no traffic, whatever its weight.
      if (server.adminState === 0) raw[pool] += server.weight
    }
    const weights = percentages(raw)
    log.add(weights)
    return weights
  }
  let stopped = false
  let failure: Error | undefined
  const polling = (async () => {
    while (!stopped) {
      await readWeights().catch((error: Error) => (failure ??= error))
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
    }
  })()
  return {
    read: readWeights,
    states: log.states,
    writes: () => undefined,
    async stop() {
      if (stopped) return
      await readWeights()
      stopped = true
      await polling
      if (failure) throw failure
    },
  }
}

/** The crash walk on the HAProxy stack. */
export const haproxyTarget: CrashWalkTarget = {
  name: 'haproxy',
  plan: haproxyPlan,
  switches: 'per-server',
  async start() {
    const stack = await startHaproxyStack()
    const weightLog = haproxyWeightLog(stack)
    await weightLog.read()
    return {
      cliEnv: stack.cliEnv,
      databaseUrl: stack.databaseUrl,
      production: (samples) => sampleProduction(`${stack.productionUrl}/version`, samples),
      versions: () => ({ blue: stack.app.versionOf('blue'), green: stack.app.versionOf('green') }),
      weightLog,
      async close() {
        await weightLog.stop().catch(() => {})
        await stack.close()
      },
    }
  },
}
