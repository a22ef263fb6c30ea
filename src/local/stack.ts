/**
 * The embedded default stack: the local ELBv2 emulator in front of the demo app's two pools,
 * on a database seeded with the v1 schema. `bluegreen demo` and the end-to-end tests both run
 * plans/demo.yaml (or a plan like it) against this stack; `env` holds what the plan reads.
 */
import type { PoolName } from '../lb/types.js'
import { startDemoApp, type DemoApp } from './demo-app.js'
import type { AlbEmulator } from './alb/index.js'

export interface LocalStack {
  emulator: AlbEmulator
  app: DemoApp
  /** The production URL: the emulator's listener. */
  productionUrl: string
  /** Environment for plans/demo.yaml (and for the deploy command it runs). */
  env: Record<string, string>
  close(): Promise<void>
}

export interface LocalStackOptions {
  databaseUrl: string
  initialVersion?: string
  /** Rows in the seeded profiles table. */
  profiles?: number
  /** The emulator's health-check interval; short in tests. */
  healthInterval?: string
  /** The pool that is live at the start. */
  live?: PoolName
}

/** The v1 schema: profiles with a single `name`, which the release splits. */
export async function seedProfiles(databaseUrl: string, rows: number): Promise<void> {
  const { withClient } = await import('../db/client.js')
  await withClient(databaseUrl, async (client) => {
    await client.query(`CREATE TABLE IF NOT EXISTS profiles (id bigserial PRIMARY KEY, name text NOT NULL)`)
    const names = [
      'Ada Lovelace',
      'Grace Hopper',
      'Alan Turing',
      'Edsger Dijkstra',
      'Barbara Liskov',
      'Donald Knuth',
    ]
    await client.query(
      `INSERT INTO profiles (name) SELECT ($1::text[])[1 + (g % $2)] FROM generate_series(0, $3 - 1) g`,
      [names, names.length, rows],
    )
  })
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const initialVersion = options.initialVersion ?? '1.0.0'
  const live = options.live ?? 'blue'
  await seedProfiles(options.databaseUrl, options.profiles ?? 2000)
  const app = await startDemoApp({ databaseUrl: options.databaseUrl, initialVersion })
  const { startAlbEmulator } = await import('./alb/index.js')
  const targets = (pool: PoolName) =>
    app.servers.filter((s) => s.pool === pool).map((s) => `127.0.0.1:${s.port}`)
  const healthCheck = {
    path: '/healthz',
    interval: options.healthInterval ?? '1s',
    timeout: '1s',
    healthyThreshold: 2,
    unhealthyThreshold: 2,
  }
  let emulator: AlbEmulator
  try {
    emulator = await startAlbEmulator({
      region: 'us-east-1',
      // The demo and the tests check health every second or faster; AWS's minimum is 5 s.
      fastHealthChecks: true,
      loadBalancer: { name: 'shop' },
      targetGroups: [
        { name: 'shop-blue', targets: targets('blue'), healthCheck },
        { name: 'shop-green', targets: targets('green'), healthCheck },
      ],
      listeners: [
        {
          port: 0,
          defaultAction: {
            forward: [
              { targetGroup: 'shop-blue', weight: live === 'blue' ? 100 : 0 },
              { targetGroup: 'shop-green', weight: live === 'green' ? 100 : 0 },
            ],
          },
        },
      ],
    })
  } catch (error) {
    await app.close()
    throw error
  }
  const productionUrl = emulator.listeners[0].url
  const tg = (name: string) => emulator.targetGroups.find((t) => t.name === name)!.arn
  return {
    emulator,
    app,
    productionUrl,
    env: {
      DATABASE_URL: options.databaseUrl,
      BLUEGREEN_ALB_ENDPOINT: emulator.apiUrl,
      BLUEGREEN_DEMO_URL: productionUrl,
      BLUEGREEN_DEMO_CONTROL: app.controlUrl,
      BLUEGREEN_LISTENER_ARN: emulator.listeners[0].arn,
      BLUEGREEN_BLUE_TG_ARN: tg('shop-blue'),
      BLUEGREEN_GREEN_TG_ARN: tg('shop-green'),
      // The emulator accepts any credentials; these keep the SDK from looking for real ones.
      AWS_ACCESS_KEY_ID: 'demo',
      AWS_SECRET_ACCESS_KEY: 'demo',
      AWS_REGION: 'us-east-1',
    },
    async close() {
      await emulator.close()
      await app.close()
    },
  }
}
