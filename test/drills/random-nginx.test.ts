/**
 * Drill (issue 20 item 3, issue 12 item 8): a crash between nginx's upstream rewrite and its
 * reload, at a seeded random shift of a release (50% or 100%). The plan's `test` command (which
 * the adapter runs after writing the file and before the reload) is the drill's wrapper around
 * `nginx -t`: on the chosen call it holds there, and the drill
 *   - SIGKILLs bluegreen (the file says the new split, nginx still serves the old one),
 *   - SIGKILLs bluegreen and nginx restarts afterwards (a reboot: nginx now serves the file),
 *   - SIGKILLs nginx and starts it again before letting the reload go, or
 *   - SIGKILLs nginx and starts it again only after the command has exited.
 * Then `status`, `release --resume` and `rollback` must each see what nginx actually serves
 * (sampled through nginx on fresh connections), and end where the model says: green 2.0.0 after
 * the resume, blue after the rollback.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { startDemoApp, type DemoApp } from '../../src/local/demo-app.js'
import { seedProfiles } from '../../src/local/stack.js'
import { bluegreen, repoRoot } from '../support/e2e.js'
import type { TestApp } from '../support/http-app.js'
import { samplePools } from '../support/load.js'
import { startNginx, type TestNginx } from '../support/nginx.js'
import { createTestDatabase } from '../support/postgres.js'
import { haveBinary, killGroup, startProcess, waitFor, type Started } from '../support/process.js'
import {
  documentedExitCodes,
  drillSeeds,
  lastJson,
  random,
  startCli,
  uniformMs,
  withSeed,
  type RunningCli,
} from './random-support.js'

const seeds = drillSeeds('random-nginx.test.ts', {
  count: 40,
  ciCount: 2,
  // bluegreen killed at the 50% rewrite, then rolled back: once with nginx as it was, once restarted
  ciSeed: 20_261_208,
})

type Crash =
  | 'bluegreen killed'
  | 'bluegreen killed, nginx restarted later'
  | 'nginx killed, restarted before the reload'
  | 'nginx killed, restarted after the command'
const crashes: readonly Crash[] = [
  'bluegreen killed',
  'bluegreen killed, nginx restarted later',
  'nginx killed, restarted before the reload',
  'nginx killed, restarted after the command',
]

interface NginxStack {
  plan: string
  env: Record<string, string>
  nginx: TestNginx
  app: DemoApp
  /** The wrapper's directory: `at` (which call holds), `held` (it holds now), `go` (let it go). */
  hold: string
  /** SIGKILLs nginx, master and workers. */
  killNginx(): void
  /** Starts nginx again on the same prefix, configuration and port. */
  restartNginx(): Promise<void>
  close(): Promise<void>
}

async function startNginxStack(): Promise<NginxStack> {
  const databaseUrl = await createTestDatabase('nginx')
  await seedProfiles(databaseUrl, 100)
  const app = await startDemoApp({ databaseUrl, initialVersion: '1.0.0' })
  const servers = (pool: 'blue' | 'green') =>
    app.servers.filter((s) => s.pool === pool).map((s) => ({ address: '127.0.0.1', port: s.port }) as TestApp)
  const nginx = await startNginx({ apps: { blue: servers('blue'), green: servers('green') }, live: 'blue' })
  const dir = mkdtempSync(join(tmpdir(), 'bluegreen-nginx-drill-'))
  const hold = join(dir, 'hold')
  const [binary, ...testArgs] = nginx.config.test
  const startArgs = [...testArgs.filter((a) => a !== '-t' && a !== '-q'), '-g', 'daemon off;']
  // The plan's `test`: the adapter runs it between the rewrite and the reload.
  const wrapper = join(dir, 'nginx-test.sh')
  writeFileSync(
    wrapper,
    `#!/bin/sh
n=$(( $(cat '${hold}.calls' 2>/dev/null || echo 0) + 1 )); echo $n > '${hold}.calls'
if [ "$n" = "$(cat '${hold}.at' 2>/dev/null)" ]; then
  touch '${hold}.held'
  while [ ! -e '${hold}.go' ]; do sleep 0.02; done
fi
exec ${[binary, ...testArgs].map((a) => `'${a}'`).join(' ')}
`,
  )
  chmodSync(wrapper, 0o755)
  const plan = join(dir, 'plan.yaml')
  const demoDeploy = join(repoRoot, 'plans/demo/deploy.mjs')
  writeFileSync(
    plan,
    stringify({
      app: 'shop',
      database: { url: '${DATABASE_URL}', lockTimeout: '500ms' },
      loadBalancer: {
        provider: 'nginx',
        upstreamFile: nginx.config.upstreamFile,
        upstream: nginx.config.upstream,
        test: [wrapper],
        reload: nginx.config.reload,
      },
      pools: nginx.pools,
      phases: [
        {
          deploy: {
            run: ['node', demoDeploy, '{{pool}}', '{{version}}'],
            timeout: '30s',
            healthTimeout: '10s',
          },
        },
        {
          smoke: {
            host: 'shop.example.com',
            deadline: '3s',
            checks: [{ path: '/version', expect: { bodyContains: '{{version}}' } }],
          },
        },
        { switch: { steps: [50, 100], interval: '300ms' } },
        {
          verify: {
            url: `${nginx.trafficUrl}version`,
            for: '1s',
            interval: '100ms',
            versionMarker: '{{version}}',
            versionSeen: 3,
          },
        },
        { standby: { for: '1h' } },
      ],
    }),
  )
  const stateDir = join(dir, 'state')
  let restarted: Started | undefined
  return {
    plan,
    env: {
      DATABASE_URL: databaseUrl,
      BLUEGREEN_DEMO_CONTROL: app.controlUrl,
      BLUEGREEN_STATE_DIR: stateDir,
      CI: 'true',
    },
    nginx,
    app,
    hold,
    killNginx() {
      killGroup(restarted?.pid ?? nginx.pid, 'SIGKILL')
    },
    async restartNginx() {
      await restarted?.exited
      await waitFor(
        async () => {
          const attempt = startProcess(binary, startArgs)
          const failed = await Promise.race([
            attempt.exited.then(() => true),
            new Promise<false>((resolve) => setTimeout(() => resolve(false), 300)),
          ])
          if (failed) return false
          restarted = attempt
          return true
        },
        10_000,
        'nginx to start again',
      )
      await waitFor(
        async () => (await samplePools(nginx.trafficUrl, 1)) !== undefined,
        10_000,
        'nginx to answer',
      )
    },
    async close() {
      await restarted?.stop()
      await nginx.stop()
      await app.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** What nginx serves: which pools answer `samples` requests on fresh connections. */
async function served(stack: NginxStack, samples = 16): Promise<Record<string, number>> {
  return samplePools(`${stack.nginx.trafficUrl}version`, samples)
}

interface StatusJson {
  traffic: { weights: { blue: number; green: number }; note?: string }
  unfinished?: { state: string }
}

/** `status --json` exits 0 and says what nginx serves: each pool with traffic answers, the other none. */
async function expectStatusSeesNginx(stack: NginxStack, log: string[], when: string): Promise<StatusJson> {
  const shown = await bluegreen(['status', stack.plan, '--json'], stack.env)
  expect(shown.code, shown.stderr).toBe(0)
  const report = lastJson<StatusJson>(shown.stdout)
  const serving = await served(stack)
  serving.blue ??= 0
  serving.green ??= 0
  const { weights } = report.traffic
  log.push(
    `${when}: status blue ${weights.blue}% / green ${weights.green}%, nginx served ${JSON.stringify(serving)}`,
  )
  expect
    .soft(
      { blue: weights.blue > 0, green: weights.green > 0 },
      `status after ${when} says blue ${weights.blue}% / green ${weights.green}%${report.traffic.note ? ` (${report.traffic.note})` : ''}; nginx served ${JSON.stringify(serving)}`,
    )
    .toEqual({ blue: serving.blue > 0, green: serving.green > 0 })
  expect(
    Object.keys(serving).filter((k) => k !== 'blue' && k !== 'green'),
    JSON.stringify(serving),
  ).toEqual([])
  return report
}

let stack: NginxStack | undefined
let running: RunningCli | undefined
afterEach(async () => {
  if (stack && !existsSync(`${stack.hold}.go`)) writeFileSync(`${stack.hold}.go`, '')
  await running?.stop()
  await stack?.close()
  stack = running = undefined
})

describe.runIf(haveBinary('nginx'))('drill: a crash between the nginx rewrite and its reload', () => {
  for (const seed of seeds.seeds) {
    it(`seed ${seed}: status, --resume and rollback see what nginx serves`, async () => {
      const log: string[] = []
      await withSeed(seeds, seed, log, async () => {
        const next = random(seed)
        // Every crash, shift and follow-up in turn: any 16 consecutive seeds cover them all
        const crash = crashes[seed % crashes.length]
        const at = (Math.floor(seed / crashes.length) % 2) + 1
        const resume = Math.floor(seed / (crashes.length * 2)) % 2 === 0
        const downMs = uniformMs(next, 500)
        // Given a release of 2.0.0 through nginx that will stop between the rewrite for its
        // `at`-th shift (1: 50%, 2: 100%) and the reload
        stack = await startNginxStack()
        const s = stack
        writeFileSync(`${s.hold}.at`, String(at))
        running = startCli(['release', s.plan, '--version', '2.0.0', '--yes'], s.env)
        let exitedEarly = false
        void running.exited.then(() => (exitedEarly = true))
        for (const deadline = Date.now() + 30_000; !existsSync(`${s.hold}.held`);) {
          if (exitedEarly || Date.now() > deadline)
            throw new Error(`the release did not reach the rewrite:\n${running.output()}`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        log.push(
          `${crash} after the rewrite for the ${at === 1 ? '50%' : '100%'} shift; then ${resume ? '--resume' : 'rollback'}`,
        )

        // When it crashes there
        if (crash.startsWith('bluegreen killed')) running.kill()
        else s.killNginx()
        if (crash === 'nginx killed, restarted before the reload') {
          await new Promise((resolve) => setTimeout(resolve, downMs))
          await s.restartNginx()
        }
        writeFileSync(`${s.hold}.go`, '')
        const exit = await running.exited
        log.push(`release → ${exit.signal ?? `exit ${exit.code}`}`)
        if (exit.signal === null) expect(documentedExitCodes, running.output()).toContain(exit.code)
        if (crash !== 'bluegreen killed') {
          // nginx comes back (a supervisor, or the host's reboot) on the files as they are now
          if (crash === 'bluegreen killed, nginx restarted later') s.killNginx()
          if (crash !== 'nginx killed, restarted before the reload') {
            await new Promise((resolve) => setTimeout(resolve, downMs))
            await s.restartNginx()
          }
        }

        // Then status says what nginx serves
        const report = await expectStatusSeesNginx(s, log, 'the crash')

        // When the release is resumed (it is unfinished; some seeds roll back straight away), Then
        // it ends on green, as nginx shows
        if (report.unfinished && resume) {
          const resumed = await bluegreen(['release', s.plan, '--resume', '--yes'], s.env)
          log.push(`--resume → exit ${resumed.code}`)
          expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0)
          expect(await served(s)).toEqual({ green: 16 })
          await expectStatusSeesNginx(s, log, '--resume')
        }

        // When it is rolled back, Then nginx serves blue, and status says so
        const rolledBack = await bluegreen(['rollback', '--plan', s.plan, '--yes'], s.env)
        log.push(`rollback → exit ${rolledBack.code}`)
        expect(documentedExitCodes, rolledBack.stderr).toContain(rolledBack.code)
        expect([0, 5], rolledBack.stderr + rolledBack.stdout).toContain(rolledBack.code)
        await expectStatusSeesNginx(s, log, 'the rollback')
        if (rolledBack.code === 0) expect(await served(s)).toEqual({ blue: 16 })
      })
    })
  }
})
