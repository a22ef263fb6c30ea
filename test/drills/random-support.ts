/**
 * Drills with random timing (issue 20 item 3): what the failpoint walks (test/support/crash-walk.ts)
 * do at fixed points, these do at seeded random moments — a SIGKILL, a cut lock connection, a
 * PostgreSQL restart, nginx killed under a switch. This file holds what they share: the seeds
 * (printed, with a one-line replay), the count (`DRILL_KILLS`; fixed under CI=true), the built
 * CLI started as a process that a drill can kill or watch line by line, production traffic, and
 * the documented exit codes.
 */
import { join } from 'node:path'
import { expect } from 'vitest'
import { random } from '../model/sequences.js'
import { repoRoot } from '../support/cli.js'
import { builtCliEnv } from '../support/crash-walk.js'
import { runKeepAliveLoad, type LoadReport } from '../support/load.js'
import { killGroup, startProcess, type Started } from '../support/process.js'

export { random }

export const ci = process.env.CI === 'true'

/** Exit codes README.md documents ("Exit codes"): 0–6, and 130 after a second Ctrl-C. */
export const documentedExitCodes = [0, 1, 2, 3, 4, 5, 6, 130]

export interface DrillSeeds {
  /** One seed per run of the drill. */
  seeds: number[]
  /** The line that replays one seed. */
  replay(seed: number): string
}

/**
 * The seeds of a drill file. `RANDOM_KILL_SEED=N` replays seed N alone; otherwise `DRILL_KILLS`
 * runs (default `count`) from a base seed drawn now (`DRILL_BASE_SEED` repeats it), or under
 * CI=true `ciCount` runs from a fixed base seed (`ciSeed`), to fit CI's time: about 2 minutes
 * of wall time for the four random-*.test.ts files together, measured on this 2-core machine.
 */
export function drillSeeds(
  file: string,
  options: { count: number; ciCount: number; ciSeed?: number },
): DrillSeeds {
  const replay = (seed: number) =>
    `RANDOM_KILL_SEED=${seed} npx vitest run --config vitest.drills.config.ts test/drills/${file}`
  const only = process.env.RANDOM_KILL_SEED
  if (only) return { seeds: [Number(only)], replay }
  const count = Number(process.env.DRILL_KILLS ?? (ci ? options.ciCount : options.count))
  const base = Number(
    process.env.DRILL_BASE_SEED ?? (ci ? (options.ciSeed ?? 20_261_202) : Date.now() % 1_000_000_000),
  )
  console.log(
    `${file}: ${count} runs from base seed ${base} (DRILL_BASE_SEED=${base} DRILL_KILLS=${count} repeats them)`,
  )
  return { seeds: Array.from({ length: count }, (_, i) => base + i), replay }
}

/**
 * Runs one seeded drill: on failure the error names the seed and its replay line; either way it
 * prints how long the run took.
 */
export async function withSeed<T>(
  seeds: DrillSeeds,
  seed: number,
  log: string[],
  fn: () => Promise<T>,
): Promise<T> {
  const started = Date.now()
  try {
    return await fn()
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const failure = new Error(
      `seed ${seed}: ${message}\n  ${log.join('\n  ')}\nreplay: ${seeds.replay(seed)}`,
    )
    failure.stack = `${failure.message}\n${(error as Error).stack ?? ''}`
    throw failure
  } finally {
    console.log(`seed ${seed}: ${((Date.now() - started) / 1000).toFixed(1)} s — ${log.join('; ')}`)
  }
}

/** A delay drawn uniformly from [0, maxMs). */
export const uniformMs = (next: () => number, maxMs: number): number => Math.floor(next() * maxMs)

/** One of `choices`, drawn by `next`. */
export const pick = <T>(next: () => number, choices: readonly T[]): T =>
  choices[Math.floor(next() * choices.length)]

export interface RunningCli {
  pid: number
  /** stdout and stderr so far, interleaved. */
  output(): string
  /** Resolves with the exit; `ms` from the spawn. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>
  /** SIGKILL to the CLI process alone (as the OOM killer or `kill -9 PID` does). */
  kill: () => void
  /** Stops it and whatever it started, if still running (test cleanup). */
  stop(): Promise<void>
}

/**
 * Starts the built CLI (`node bin/run.js …`) as a pipeline would, with its own process group,
 * so that the drill can kill it at any moment and watch its plain lines as they come.
 */
export function startCli(args: string[], env: Record<string, string>): RunningCli {
  const started = performance.now()
  const process_: Started = startProcess(process.execPath, [join(repoRoot, 'bin/run.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: '1', ...env, ...builtCliEnv },
  })
  return {
    pid: process_.pid,
    output: () => process_.output(),
    exited: process_.exited.then(({ code, signal }) => ({
      code,
      signal,
      ms: performance.now() - started,
    })),
    kill: () => {
      try {
        process.kill(process_.pid, 'SIGKILL')
      } catch {
        // It had exited.
      }
    },
    stop: () => process_.stop(500),
  }
}

/** Resolves when `run` has printed a line matching `pattern` (or rejects when it exits first). */
export async function lineMatching(run: RunningCli, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let done = false
  void run.exited.then(() => (done = true))
  while (!pattern.test(run.output())) {
    if (done) throw new Error(`the command exited before printing ${pattern}:\n${run.output()}`)
    if (Date.now() > deadline) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The plain line a release prints when step `index` (0-based) starts: `[3/8 deploy] …`. */
export const stepLine = (index: number, kind: string): RegExp => new RegExp(`\\[${index + 1}/\\d+ ${kind}\\]`)

/** A load client against production for the whole drill; `stop()` returns its report. */
export function productionLoad(url: string, concurrency = 2): { stop(): Promise<LoadReport> } {
  let stopLoad!: () => void
  const report = runKeepAliveLoad(url, { until: new Promise<void>((r) => (stopLoad = r)), concurrency })
  return {
    stop() {
      stopLoad()
      return report
    },
  }
}

/** Asserts that production saw no failed request (and did get traffic). */
export function expectNoFailedRequests(report: LoadReport): void {
  expect(report.sent, 'production traffic ran').toBeGreaterThan(10)
  expect(report.failed, `failed production requests: ${report.errors.join(', ')}`).toBe(0)
}

/** The final JSON object of a `--json` command's stdout. */
export function lastJson<T>(stdout: string): T {
  const line = stdout.trim().split('\n').at(-1) ?? ''
  try {
    return JSON.parse(line) as T
  } catch {
    throw new Error(`expected a JSON result on the last line of stdout, got: ${stdout.slice(-500)}`)
  }
}

/** What `status --json` says of the pools, without what depends on the clock or the servers' ports. */
export interface PoolStanding {
  pool: string
  role: string
  weight: number
  standing?: string
  version?: string
  rollbackTarget: boolean
}

export function poolStandings(report: { pools: (PoolStanding & Record<string, unknown>)[] }): PoolStanding[] {
  return report.pools.map(({ pool, role, weight, standing, version, rollbackTarget }) => ({
    pool,
    role,
    weight,
    ...(standing === undefined ? {} : { standing }),
    ...(version === undefined ? {} : { version }),
    rollbackTarget,
  }))
}

/** Kills a process group by its leader's PID, ignoring one that is gone. */
export { killGroup }
