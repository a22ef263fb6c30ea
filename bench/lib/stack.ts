/**
 * The local stack the CLI benchmarks run against (src/local/stack.ts: the ELBv2 emulator in front
 * of the demo app's two pools, on a seeded database), set up the way the end-to-end tests set it
 * up (test/support/e2e.ts), with test/fixtures/e2e/plan.yaml as the plan. Everything on 127.0.0.1.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { createDatabase } from '../../src/local/postgres.js'
import { startLocalStack, type LocalStack } from '../../src/local/stack.js'
import { bluegreen, cliEnv, repoRoot, type BuiltCli } from './cli.js'
import { sleep } from './main.js'

export const e2ePlan = join(repoRoot, 'test/fixtures/e2e/plan.yaml')
export const e2ePlanDir = join(repoRoot, 'test/fixtures/e2e')

export interface BenchStack {
  stack: LocalStack
  databaseUrl: string
  /** The CLI's environment: the stack's variables, a private state directory, plain output. */
  env: NodeJS.ProcessEnv
  close(): Promise<void>
}

let counter = 0

/** A fresh database in `serverUrl` with the local stack on it; both pools healthy. */
export async function startBenchStack(serverUrl: string, name: string): Promise<BenchStack> {
  const databaseUrl = await createDatabase(serverUrl, `bench_${name}_${process.pid}_${counter++}`)
  const stack = await startLocalStack({ databaseUrl, healthInterval: '200ms', profiles: 1000 })
  const stateDir = await mkdtemp(join(tmpdir(), 'bluegreen-bench-state-'))
  let closing: Promise<void> | undefined
  const bench: BenchStack = {
    stack,
    databaseUrl,
    env: cliEnv({ ...stack.env, BLUEGREEN_STATE_DIR: stateDir }),
    // Idempotent: the runner closes it when done with it, and its cleanup again on the way out.
    close: () =>
      (closing ??= (async () => {
        await stack.close()
        await rm(stateDir, { recursive: true, force: true })
      })()),
  }
  try {
    await waitBothPoolsHealthy(stack)
  } catch (error) {
    await bench.close()
    throw error
  }
  return bench
}

/** Waits until the emulator has seen every target of both pools healthy. */
export async function waitBothPoolsHealthy(stack: LocalStack, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const groups = stack.emulator.state.targetGroups
    const all = groups.flatMap((tg) => [...tg.targets.values()])
    if (all.length > 0 && all.every((t) => t.health.state === 'healthy')) return
    if (Date.now() > deadline) throw new Error('the local stack’s pools did not become healthy')
    await sleep(50)
  }
}

/** Releases `version` with the e2e plan (blue → green on a fresh stack), as a pipeline would. */
export async function release(cli: BuiltCli, bench: BenchStack, version: string): Promise<void> {
  await bluegreen(cli, ['release', e2ePlan, '--version', version, '--yes'], bench.env, 120_000)
}

export interface Answer {
  pool: string
  version: string
}

/** One GET of `url` on a fresh connection (no keep-alive pins it to an old configuration). */
export function answer(url: string, timeoutMs = 2000): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = get(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('error', fail)
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { pool?: string; version?: string }
          done({ pool: parsed.pool ?? String(res.headers['x-pool']), version: parsed.version ?? '' })
        } catch {
          fail(new Error(`${url} answered ${res.statusCode}: ${body.slice(0, 100)}`))
        }
      })
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)))
    req.on('error', fail)
  })
}

/**
 * Polls production's /version every `everyMs` until `accept` says yes; resolves with
 * performance.now() of the first accepted answer's arrival. Failed requests are retried.
 */
export async function pollProduction(
  productionUrl: string,
  accept: (a: Answer) => boolean,
  options: { everyMs?: number; timeoutMs?: number; giveUp?: () => string | undefined } = {},
): Promise<number> {
  const deadline = performance.now() + (options.timeoutMs ?? 30_000)
  for (;;) {
    const reason = options.giveUp?.()
    if (reason) throw new Error(reason)
    const seen = await answer(`${productionUrl}/version`).catch(() => undefined)
    if (seen && accept(seen)) return performance.now()
    if (performance.now() > deadline) {
      throw new Error(`production did not answer as expected in time (last: ${JSON.stringify(seen)})`)
    }
    await sleep(options.everyMs ?? 5)
  }
}

export interface PlanTimings {
  /** The deploy step's argv, with {{pool}} and {{version}} still in it. */
  deployRun: string[]
  /** Waits the plan configures: the switch's pauses between steps, and verify's between samples. */
  configuredWaitsMs: number
  waits: string[]
  verify: { interval: string; versionSeen: number; for: string }
}

/** Reads what the benchmarks need from the e2e plan, so they follow it when it changes. */
export async function readPlan(file = e2ePlan): Promise<PlanTimings> {
  const { parseDuration } = await import('../../src/format/duration.js')
  const plan = parse(await readFile(file, 'utf8')) as { phases: Record<string, Record<string, unknown>>[] }
  const phase = (kind: string) => plan.phases.find((p) => kind in p)?.[kind]
  const deploy = phase('deploy') as { run: string[] }
  const sw = phase('switch') as { steps: number[]; interval?: string } | undefined
  const verify = phase('verify') as { for: string; interval?: string; versionSeen?: number } | undefined
  const waits: string[] = []
  let configuredWaitsMs = 0
  if (sw && sw.steps.length > 1 && sw.interval) {
    const ms = parseDuration(sw.interval) * (sw.steps.length - 1)
    configuredWaitsMs += ms
    waits.push(`switch: ${sw.steps.length - 1} × interval ${sw.interval} = ${ms} ms`)
  }
  if (verify) {
    // Verify samples every `interval` from its start and takes no sample at or after `for`:
    // the pauses between its samples are what it waits.
    const interval = parseDuration(verify.interval ?? '2s')
    const ms = (Math.ceil(parseDuration(verify.for) / interval) - 1) * interval
    configuredWaitsMs += ms
    waits.push(
      `verify: for ${verify.for}, a sample every ${verify.interval ?? '2s'}, so the last is due ${ms} ms after the first`,
    )
  }
  return {
    deployRun: deploy.run,
    configuredWaitsMs,
    waits,
    verify: {
      interval: verify?.interval ?? '2s',
      versionSeen: verify?.versionSeen ?? 1,
      for: verify?.for ?? '0s',
    },
  }
}

/** The deploy step's command for `pool` and `version`, as the deploy phase fills it. */
export function deployCommand(plan: PlanTimings, pool: string, version: string): [string, string[]] {
  const [command, ...args] = plan.deployRun.map((part) =>
    part.replaceAll('{{pool}}', pool).replaceAll('{{version}}', version),
  )
  return [command, args]
}
