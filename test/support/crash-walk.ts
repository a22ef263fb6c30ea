/**
 * The crash walk (issue 6): for every failpoint of a plan — before, in the middle of and after
 * the work of every step, and after every weighted shift of a switch — start a fresh stack, run
 * `release` until the process SIGKILLs itself there, then `release --resume`, and read the end
 * state. Compared with the end state of an uninterrupted release on the same kind of stack, it
 * shows that no migration ran twice, no switch was made twice and nothing was left half done.
 *
 * The walker knows nothing of the load balancer: a target (the ELBv2 emulator stack, the HAProxy
 * stack) supplies a stack with a recorder of the load balancer's weight states.
 */
import { readFileSync } from 'node:fs'
import { describe, it, type ExpectStatic } from 'vitest'
import { parse } from 'yaml'
import { forwardTargets } from '../../src/local/alb/state.js'
import type { CliResult } from './cli.js'
import { bluegreen, e2ePlan, sql, startE2eStack, type E2eStack } from './e2e.js'

export interface Weights {
  blue: number
  green: number
}

/** The load balancer's traffic split as a sequence of distinct states, recorded as it changes. */
export interface WeightLog {
  /** Reads the split now (and records it). */
  read(): Promise<Weights>
  /** Distinct consecutive states (percentages), the state at the start first. */
  states(): Weights[]
  /** Writes to the switched resource, when the load balancer lets us count them. */
  writes(): number | undefined
  /** Stops recording (and flushes a last reading, for polled load balancers). */
  stop(): Promise<void>
}

export interface WalkStack {
  /** Environment for the CLI. */
  cliEnv: Record<string, string>
  databaseUrl: string
  /** Who answers production requests (several samples, so a split shows). */
  production(samples?: number): Promise<{ pool: string; version: string }[]>
  /** The version each pool's servers run. */
  versions(): Record<'blue' | 'green', string>
  weightLog: WeightLog
  close(): Promise<void>
}

export interface CrashWalkTarget {
  name: string
  /** The plan file to release. */
  plan: string
  /** A fresh stack: new database, load balancer and app servers. */
  start(): Promise<WalkStack>
  /**
   * `atomic`: every write moves the whole split at once (ELBv2), so the states are exactly the
   * asked steps. `per-server`: a shift sets server weights one by one (HAProxy), so a poll may
   * see in-between states; they must still only ever move toward the new pool.
   */
  switches: 'atomic' | 'per-server'
}

export interface Failpoint {
  /** The BLUEGREEN_FAILPOINT value. */
  name: string
  /** Where it stops, in words, for test names. */
  label: string
  step: number
  kind: string
  at: 'before' | 'started' | 'ran' | 'switch'
  /** For switch failpoints: the weight just reached. */
  weight?: number
}

const whereItStops = {
  before: 'before it is journaled',
  started: 'journaled as started, before its work',
  ran: 'after its work, before it is journaled as done',
}

/** Every failpoint of a plan, in the order a release passes them (src/engine/failpoint.ts). */
export function failpointsOf(planFile: string): Failpoint[] {
  const plan = parse(readFileSync(planFile, 'utf8')) as { phases: Record<string, unknown>[] }
  return plan.phases.flatMap((entry, step): Failpoint[] => {
    const [kind] = Object.keys(entry)
    const at = (point: keyof typeof whereItStops): Failpoint => ({
      name: `step:${step}:${point}`,
      label: `step ${step} (${kind}) ${whereItStops[point]}`,
      step,
      kind,
      at: point,
    })
    const weights = kind === 'switch' ? ((entry.switch as { steps?: number[] }).steps ?? [100]) : []
    const shifts = weights.map((weight): Failpoint => ({
      name: `switch:${weight}`,
      label: `step ${step} (switch) right after the shift to ${weight}%`,
      step,
      kind,
      at: 'switch',
      weight,
    }))
    return [at('before'), at('started'), ...shifts, at('ran')]
  })
}

/** The release's end state, in terms that must not depend on whether it was interrupted. */
export interface EndState {
  production: { pool: string; version: string }[]
  poolVersions: Record<'blue' | 'green', string>
  releases: { version: string; from: string; to: string; status: string; error: string | null }[]
  steps: { idx: number; kind: string; status: string }[]
  migrations: { phase: string; file: string; checksum: string; applied: boolean; statements: number }[]
  profileColumns: string[]
  profilesNotBackfilled: number
  backfills: { table: string; finished: boolean; rows: number }[]
  /** Each pool's version and standing in the journal. */
  journalPools: { pool: string; version: string | null; standing: string }[]
  contracts: { version: string; pending: boolean; cancelled: boolean; files: string[] }[]
  /** Distinct weight states of the load balancer, from the stack's start. */
  weights: Weights[]
  /** Writes to the switched listener/rule (undefined when the load balancer cannot count them). */
  lbWrites: number | undefined
}

export async function endState(stack: WalkStack): Promise<EndState> {
  const db = stack.databaseUrl
  const rows = <T>(text: string) => sql<T>(db, text)
  await stack.weightLog.stop()
  const [releases, steps, migrations, columns, missing, backfills, journalPools, contracts] =
    await Promise.all([
      rows<EndState['releases'][number]>(
        `SELECT version, from_pool AS "from", to_pool AS "to", status, error FROM bluegreen.releases ORDER BY seq`,
      ),
      rows<EndState['steps'][number]>(
        `SELECT s.idx, s.kind, s.status FROM bluegreen.steps s JOIN bluegreen.releases r ON r.id = s.release_id ORDER BY r.seq, s.idx`,
      ),
      rows<EndState['migrations'][number]>(
        `SELECT phase, file, checksum, applied_at IS NOT NULL AS applied, statements_done AS statements
           FROM bluegreen.migrations ORDER BY phase, file`,
      ),
      rows<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'profiles' ORDER BY column_name`,
      ),
      rows<{ n: string }>(
        `SELECT count(*) AS n FROM profiles WHERE first_name IS NULL OR last_name IS NULL OR first_name <> split_part(name, ' ', 1)`,
      ),
      rows<{ table: string; finished: boolean; rows: string }>(
        `SELECT table_name AS "table", finished_at IS NOT NULL AS finished, rows_done AS rows FROM bluegreen.backfills ORDER BY name`,
      ),
      rows<EndState['journalPools'][number]>(
        `SELECT pool, version, standing FROM bluegreen.pools ORDER BY pool`,
      ),
      rows<EndState['contracts'][number]>(
        `SELECT c.version, c.applied_at IS NULL AS pending, c.cancelled_at IS NOT NULL AS cancelled,
                array_agg(f.file ORDER BY f.position) AS files
           FROM bluegreen.contracts c JOIN bluegreen.contract_files f USING (app, release)
          GROUP BY c.release, c.version, c.applied_at, c.cancelled_at ORDER BY c.version`,
      ),
    ])
  return {
    production: await stack.production(),
    poolVersions: stack.versions(),
    releases,
    steps,
    migrations,
    profileColumns: columns.map((c) => c.column_name),
    profilesNotBackfilled: Number(missing[0].n),
    backfills: backfills.map((b) => ({ ...b, rows: Number(b.rows) })),
    journalPools,
    contracts,
    weights: stack.weightLog.states(),
    lbWrites: stack.weightLog.writes(),
  }
}

export const releaseArgs = (plan: string): string[] => ['release', plan, '--version', '2.0.0', '--yes']

/**
 * For every CLI run of the drills and the walk. Vitest sets NODE_ENV=test, and under NODE_ENV test
 * or development oclif tries to auto-transpile src/ with tsx (ts-path.js) instead of simply
 * loading dist/: the run is then not the built CLI, and takes twice as long to start.
 */
export const builtCliEnv = { NODE_ENV: 'production' }

/** An uninterrupted release on a fresh stack: the state every crash walk must end in. */
export async function uninterruptedRelease(
  target: CrashWalkTarget,
): Promise<{ run: CliResult; end: EndState }> {
  const stack = await target.start()
  try {
    const run = await bluegreen(releaseArgs(target.plan), stack.cliEnv)
    return { run, end: await endState(stack) }
  } finally {
    await stack.close()
  }
}

export interface CrashResult {
  /** The run that killed itself at the failpoint. */
  crashed: CliResult
  /** Steps as the journal recorded them right after the kill. */
  stepsAfterCrash: { idx: number; status: string }[]
  /** Weights of the load balancer right after the kill. */
  weightsAfterCrash: Weights
  /** `status --json` after the kill, and its result object. */
  status: CliResult
  statusAfterCrash:
    { unfinished?: { release: { version: string; status: string }; state: string } } | undefined
  /** A plain `release` (no --resume) after the kill. */
  plainRelease: CliResult
  /** `release --resume`. */
  resumed: CliResult
  end: EndState
}

/** Crashes a release at `failpoint` on a fresh stack, looks around, resumes it, and reads the end state. */
export async function crashAndResume(target: CrashWalkTarget, failpoint: Failpoint): Promise<CrashResult> {
  const stack = await target.start()
  try {
    const args = releaseArgs(target.plan)
    const crashed = await bluegreen(args, { ...stack.cliEnv, BLUEGREEN_FAILPOINT: failpoint.name })
    const stepsAfterCrash = await sql<{ idx: number; status: string }>(
      stack.databaseUrl,
      `SELECT idx, status FROM bluegreen.steps ORDER BY idx`,
    )
    const weightsAfterCrash = await stack.weightLog.read()
    // Both look at the crashed release; neither may change it, so they can run side by side.
    const [status, plainRelease] = await Promise.all([
      bluegreen(['status', target.plan, '--json'], stack.cliEnv),
      bluegreen(args, stack.cliEnv),
    ])
    const resumed = await bluegreen([...args, '--resume'], stack.cliEnv)
    return {
      crashed,
      stepsAfterCrash,
      weightsAfterCrash,
      status,
      statusAfterCrash: lastJson(status.stdout),
      plainRelease,
      resumed,
      end: await endState(stack),
    }
  } finally {
    await stack.close()
  }
}

function lastJson<T>(stdout: string): T | undefined {
  const line = stdout.trim().split('\n').at(-1)
  if (!line) return undefined
  try {
    return JSON.parse(line) as T
  } catch {
    return undefined
  }
}

/** Percentages from raw weights, as the adapters report traffic. */
export function percentages(raw: Weights): Weights {
  const total = raw.blue + raw.green
  if (total === 0) return { blue: 0, green: 0 }
  const blue = Math.round((raw.blue * 100) / total)
  return { blue, green: 100 - blue }
}

/** A recorder that keeps distinct consecutive states. */
export function distinctStates(): { add: (weights: Weights) => void; states: () => Weights[] } {
  const states: Weights[] = []
  return {
    add(weights) {
      const last = states.at(-1)
      if (!last || last.blue !== weights.blue || last.green !== weights.green) states.push(weights)
    },
    states: () => states.map((s) => ({ ...s })),
  }
}

/** Runs at most `concurrency` tasks at once (scenarios each start their own stack). */
export function limit(concurrency: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0
  const waiting: (() => void)[] = []
  return async (task) => {
    // A finishing task hands its slot straight to the next waiting one.
    if (active >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve))
    else active++
    try {
      return await task()
    } finally {
      const next = waiting.shift()
      if (next) next()
      else active--
    }
  }
}

/** The local stack (ELBv2 emulator in front of the demo app) with test/fixtures/e2e/plan.yaml. */
export const emulatorTarget: CrashWalkTarget = {
  name: 'ELBv2 emulator',
  plan: e2ePlan,
  switches: 'atomic',
  start: async () => emulatorWalkStack(await startE2eStack()),
}

/** The walker's view of a local stack (recording the listener's weights from now on). */
export function emulatorWalkStack(stack: E2eStack): WalkStack {
  return {
    cliEnv: { ...stack.cliEnv, ...builtCliEnv },
    databaseUrl: stack.databaseUrl,
    production: (samples) => sampleProduction(`${stack.productionUrl}/version`, samples),
    versions: () => ({ blue: stack.app.versionOf('blue'), green: stack.app.versionOf('green') }),
    weightLog: emulatorWeightLog(stack),
    close: () => stack.close(),
  }
}

/**
 * Watches the emulator's listener: every change of its default actions (ModifyListener) is
 * one write, and the forward action's weights give the state. In-process and synchronous, so no
 * state can slip between two readings.
 */
export function emulatorWeightLog(stack: E2eStack): WeightLog {
  const listener = stack.emulator.state.listeners[0]
  const poolOf = new Map(
    stack.emulator.targetGroups.map((tg) => [tg.arn, tg.name.endsWith('-blue') ? 'blue' : 'green'] as const),
  )
  const readWeights = (): Weights => {
    const raw = { blue: 0, green: 0 }
    for (const action of listener.defaultActions) {
      for (const { arn, weight } of forwardTargets(action)) {
        const pool = poolOf.get(arn)
        if (pool) raw[pool] += weight
      }
    }
    return percentages(raw)
  }
  const log = distinctStates()
  log.add(readWeights())
  let actions = listener.defaultActions
  let writes = 0
  let recording = true
  stack.emulator.state.subscribe(() => {
    if (!recording || listener.defaultActions === actions) return
    actions = listener.defaultActions
    writes++
    log.add(readWeights())
  })
  return {
    read: () => Promise.resolve(readWeights()),
    states: log.states,
    writes: () => writes,
    stop: () => {
      recording = false
      return Promise.resolve()
    },
  }
}

/** `samples` production requests (the emulator and HAProxy balance each request afresh). */
export async function sampleProduction(
  url: string,
  samples = 8,
): Promise<{ pool: string; version: string }[]> {
  const answers: { pool: string; version: string }[] = []
  for (let i = 0; i < samples; i++) {
    const response = await fetch(url)
    const { pool, version } = (await response.json()) as { pool: string; version: string }
    answers.push({ pool, version })
  }
  return answers
}

export interface CrashWalkOptions {
  /** Scenarios run side by side (each has its own stack and database). */
  concurrency: number
  /** Per scenario, waiting for a slot included. */
  timeoutMs: number
}

/**
 * Declares the walk as tests: one for the uninterrupted release, one per failpoint.
 * Given a fresh stack, when the release is killed at the failpoint and resumed, then it ends
 * exactly as the uninterrupted release did.
 */
export function describeCrashWalk(target: CrashWalkTarget, options: CrashWalkOptions): void {
  const failpoints = failpointsOf(target.plan)
  const switchStep = failpoints.find((f) => f.kind === 'switch')?.step
  const slot = limit(options.concurrency)
  let baseline: Promise<{ run: CliResult; end: EndState }> | undefined
  const uninterrupted = () => (baseline ??= slot(() => uninterruptedRelease(target)))

  const expectReleased = (expect: ExpectStatic, end: EndState): void =>
    expectReleasedFromBlue(expect, end, { plan: target.plan, switches: target.switches })

  describe(`SIGKILL at every failpoint, then --resume (${target.name})`, () => {
    it.concurrent(
      'an uninterrupted release: the state every interrupted one must end in',
      async ({ expect }) => {
        // Given a fresh stack, When 2.0.0 is released without interruption
        const { run, end } = await uninterrupted()
        // Then
        expect(run.code, run.stderr).toBe(0)
        expectReleased(expect, end)
      },
      options.timeoutMs,
    )

    for (const failpoint of failpoints) {
      it.concurrent(
        `killed at ${failpoint.name}: ${failpoint.label}`,
        async ({ expect }) => {
          // Given a fresh stack, When the release is killed at the failpoint
          const result = await slot(() => crashAndResume(target, failpoint))
          const { crashed } = result
          // Then the process died right there, by SIGKILL
          expect({ code: crashed.code, signal: crashed.signal }, crashed.stderr).toEqual({
            code: null,
            signal: 'SIGKILL',
          })
          // And the journal shows exactly the steps before it done, and this one as far as it got
          const expectedSteps = [
            ...Array.from({ length: failpoint.step }, (_, i) => ({ idx: i, status: 'done' })),
            ...(failpoint.at === 'before' ? [] : [{ idx: failpoint.step, status: 'started' }]),
          ]
          expect(result.stepsAfterCrash).toEqual(expectedSteps)
          // And traffic is where the killed process left it
          const green = greenAfterKill(failpoint, switchStep)
          expect(result.weightsAfterCrash).toEqual({ blue: 100 - green, green })
          // And the release is reported unfinished, and a new one is refused (exit 4)
          expect(result.statusAfterCrash?.unfinished, JSON.stringify(result.status)).toMatchObject({
            release: { version: '2.0.0', status: 'running' },
            // Nobody holds its lock: status calls it interrupted, not running.
            state: 'interrupted',
          })
          expect(result.plainRelease.code, result.plainRelease.stderr).toBe(4)
          expect(result.plainRelease.stderr).toContain('UNFINISHED_RELEASE')

          // When it is resumed, Then it finishes
          expect(result.resumed.code, result.resumed.stderr + result.resumed.stdout).toBe(0)
          // And ends exactly as the uninterrupted release did
          expectReleased(expect, result.end)
          const { end: reference } = await uninterrupted()
          if (target.switches === 'atomic') expect(result.end).toEqual(reference)
          else expect({ ...result.end, weights: [] }).toEqual({ ...reference, weights: [] })
        },
        options.timeoutMs,
      )
    }
  })
}

/** Green's share of traffic when the process died at `failpoint`. */
function greenAfterKill(failpoint: Failpoint, switchStep: number | undefined): number {
  if (switchStep === undefined || failpoint.step < switchStep) return 0
  if (failpoint.step > switchStep) return 100
  if (failpoint.at === 'switch') return failpoint.weight!
  return failpoint.at === 'ran' ? 100 : 0
}

/**
 * What a release of 2.0.0 from blue with the end-to-end plan's phases must end in, interrupted
 * or not: production on green 2.0.0, one release done with every step done, each expand file
 * applied once, profiles backfilled, blue the standby, 2.0.0's contract pending, and the
 * load balancer moved through the asked splits only, toward green.
 */
export function expectReleasedFromBlue(
  expect: ExpectStatic,
  end: EndState,
  options: { plan: string; switches: CrashWalkTarget['switches'] },
): void {
  const failpoints = failpointsOf(options.plan)
  const stepCount = new Set(failpoints.map((f) => f.step)).size
  const askedWeights = failpoints.filter((f) => f.at === 'switch').map((f) => f.weight!)
  expect(
    end.production.every((a) => a.pool === 'green' && a.version === '2.0.0'),
    JSON.stringify(end.production),
  ).toBe(true)
  expect(end.poolVersions).toEqual({ blue: '1.0.0', green: '2.0.0' })
  expect(end.releases).toEqual([{ version: '2.0.0', from: 'blue', to: 'green', status: 'done', error: null }])
  expect(end.steps.map((s) => `${s.idx}:${s.status}`)).toEqual(
    Array.from({ length: stepCount }, (_, i) => `${i}:done`),
  )
  // Each expand file once, fully applied; the files are not idempotent, so a second run would have failed the release.
  expect(end.migrations.map((m) => `${m.phase}/${m.file}:${m.applied}`)).toEqual([
    'expand/001_profiles_first_last.sql:true',
    'expand/002_profiles_index.sql:true',
  ])
  expect(end.profileColumns).toEqual(['first_name', 'id', 'last_name', 'name'])
  expect(end.profilesNotBackfilled).toBe(0)
  expect(end.backfills).toMatchObject([{ table: 'public.profiles', finished: true }])
  // Blue ran what was there before bluegreen (no --live-version): the standby, version unknown.
  expect(end.journalPools).toEqual([
    { pool: 'blue', version: null, standing: 'standby' },
    { pool: 'green', version: '2.0.0', standing: 'live' },
  ])
  expect(end.contracts).toEqual([
    { version: '2.0.0', pending: true, cancelled: false, files: ['001_drop_name.sql'] },
  ])
  const green = end.weights.map((w) => w.green)
  if (options.switches === 'atomic') {
    expect(green, 'each asked split once, in order').toEqual([0, ...askedWeights])
  } else {
    expect(green[0]).toBe(0)
    expect(green.at(-1)).toBe(100)
    expect(green, 'traffic only ever moved toward green').toEqual([...green].sort((a, b) => a - b))
    for (const weight of askedWeights) expect(green).toContain(weight)
  }
}
