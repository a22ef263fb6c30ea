/**
 * What a phase test needs to call a definition the way the engine does: a plan built from raw
 * entries through the registry's schemas (defaults applied, `paths` resolved against the plan's
 * directory, as src/plan/load.ts does), its words (src/phases/words.ts) and a real
 * PhaseRunContext over a real journal and load balancer. The context records what the phase
 * reports (progress, output lines, events) and what it asks of the engine (promote), and
 * `promote` does what the engine's does: the journal's pools change through src/engine/standing.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promoted } from '../../src/engine/standing.js'
import { BugError } from '../../src/errors.js'
import type { EngineEvent } from '../../src/events.js'
import { FileJournal } from '../../src/journal/file.js'
import type { Journal, ReleaseRecord } from '../../src/journal/journal.js'
import type { Client } from '../../src/db/client.js'
import { providerDefinition } from '../../src/lb/index.js'
import type { LoadBalancer, PoolName } from '../../src/lb/types.js'
import { otherPool } from '../../src/lb/types.js'
import {
  phaseDefinition,
  phaseOf,
  planSteps,
  type PhaseConfig,
  type PhaseKind,
} from '../../src/phases/index.js'
import type { DescribeContext, PhaseRunContext, PlanStep, ValidateContext } from '../../src/phases/types.js'
import { describeContext } from '../../src/phases/words.js'
import { planSchema, type Plan } from '../../src/plan/schema.js'
import { createHaproxy } from '../../src/lb/haproxy.js'
import { startHaproxy, type TestHaproxy } from '../support/haproxy.js'
import { closeApps, startPoolApps, type PoolApps } from '../support/http-app.js'

/** A plan's sections as a test writes them; `phases` as raw entries (`{ exec: { run: [...] } }`). */
export interface RawPlan {
  app?: string
  database?: { url: string; lockTimeout?: string; statementTimeout?: string; retries?: number }
  loadBalancer?: Record<string, unknown> & { provider: string }
  pools?: Record<PoolName, Record<string, unknown>>
  phases: object[]
}

/** A haproxy section that no test phase reaches (phases that touch no load balancer). */
const unreachableHaproxy = { provider: 'haproxy', runtimeApi: '/nonexistent/admin.sock', backend: 'shop' }

/** The plan as loadPlan returns it: validated by the registry's schemas, paths made absolute. */
export function buildPlan(raw: RawPlan, planDir: string): Plan {
  const plan = planSchema().parse({
    app: raw.app ?? 'shop',
    ...(raw.database ? { database: raw.database } : {}),
    loadBalancer: raw.loadBalancer ?? unreachableHaproxy,
    pools: raw.pools ?? { blue: { servers: ['blue1'] }, green: { servers: ['green1'] } },
    phases: raw.phases,
  })
  return {
    ...plan,
    phases: planSteps(plan).map(({ kind, config, definition }) => {
      const resolved: Record<string, unknown> = { ...(config as Record<string, unknown>) }
      for (const key of definition.paths ?? []) {
        if (typeof resolved[key] === 'string') resolved[key] = resolve(planDir, resolved[key])
      }
      return { [kind]: resolved }
    }) as Plan['phases'],
  }
}

/** The words `plan show` uses, with the provider's own line, for `describe(config, words)`. */
export function wordsFor(plan: Plan, vars: { pool?: string; version?: string } = {}): DescribeContext {
  const steps = planSteps(plan)
  return describeContext(plan, vars, {
    steps,
    loadBalancerLine: (path) =>
      providerDefinition(plan.loadBalancer.provider).describe(plan.loadBalancer, path),
  })
}

/** Where a definition's validate/checkFiles look, for the step at `index`. */
export function validateAt(plan: Plan, index: number, planDir: string): ValidateContext {
  const { kind } = phaseOf(plan.phases[index])
  return { path: ['phases', index, kind], plan, planDir, offsetOfText: () => 0 }
}

/**
 * A load balancer for phases that must not touch one: any call is a bug in the phase (or the
 * test), and fails the test with the method's name.
 */
export function untouchableLoadBalancer(): LoadBalancer {
  const refuse = (method: string) => () => {
    throw new BugError(`the phase called lb.${method}, and it should not touch the load balancer`)
  }
  return {
    provider: 'none',
    describe: () => 'no load balancer',
    traffic: refuse('traffic'),
    shift: refuse('shift'),
    targets: refuse('targets'),
    waitHealthy: refuse('waitHealthy'),
    close: async () => {},
  }
}

/** A file journal in a fresh temp dir; `remove` deletes the dir. */
export async function tempFileJournal(): Promise<{
  journal: FileJournal
  dir: string
  remove(): Promise<void>
}> {
  const dir = await mkdtemp(join(tmpdir(), 'bluegreen-phase-'))
  return {
    journal: new FileJournal(join(dir, 'state.json')),
    dir,
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}

export interface PhaseHarnessOptions {
  plan: Plan
  planDir: string
  journal: Journal
  lb?: LoadBalancer
  /** The step to run (default: the first entry of the plan's kind). */
  index?: number
  /** The pool released to (default green; the live pool is the other one). */
  to?: PoolName
  version?: string
  /** An existing release (a resume, a second release); default: journal.startRelease. */
  release?: ReleaseRecord
  signal?: AbortSignal
  /** Called with each output line as it streams (a test may act on one). */
  onOutput?: (stream: 'stdout' | 'stderr', line: string) => void
  onProgress?: (message: string) => void
}

export interface PhaseHarness<C> {
  ctx: PhaseRunContext<C>
  release: ReleaseRecord
  progress: string[]
  output: { stream: 'stdout' | 'stderr'; line: string }[]
  events: EngineEvent[]
  /** The windows `promote` was called with, in order (undefined: no window). */
  promotions: (number | undefined)[]
}

/** A real PhaseRunContext for the step of `kind`, as the engine's runStep builds it. */
export async function phaseHarness<K extends PhaseKind>(
  kind: K,
  options: PhaseHarnessOptions,
): Promise<PhaseHarness<PhaseConfig<K>>> {
  const { plan, journal } = options
  const steps: PlanStep[] = planSteps(plan)
  const step = options.index !== undefined ? steps[options.index] : steps.find((s) => s.kind === kind)
  if (!step || step.kind !== kind) throw new Error(`the plan has no ${kind} step there`)
  const to = options.to ?? 'green'
  const version = options.version ?? '2.0.0'
  const release =
    options.release ??
    (await journal.startRelease({ app: plan.app, version, planHash: 'test', from: otherPool(to), to }))
  const harness: PhaseHarness<PhaseConfig<K>> = {
    release,
    progress: [],
    output: [],
    events: [],
    promotions: [],
    ctx: undefined as unknown as PhaseRunContext<PhaseConfig<K>>,
  }
  harness.ctx = {
    plan,
    planFile: join(options.planDir, 'plan.yaml'),
    planDir: options.planDir,
    planHash: 'test',
    lb: options.lb ?? untouchableLoadBalancer(),
    journal,
    journalOffline: false,
    emit: (event) => harness.events.push(event),
    signal: options.signal ?? new AbortController().signal,
    actor: 'phase-test',
    command: `vitest test/phases/${kind}.test.ts`,
    config: step.config as PhaseConfig<K>,
    index: step.index,
    release,
    to: release.to,
    from: release.from,
    vars: { app: plan.app, version: release.version, pool: release.to },
    steps,
    progress: (message) => {
      harness.progress.push(message)
      options.onProgress?.(message)
    },
    output: (stream, line) => {
      harness.output.push({ stream, line })
      options.onOutput?.(stream, line)
    },
    promote: async (windowMs) => {
      harness.promotions.push(windowMs)
      const changes = promoted(await journal.pools(plan.app), release, windowMs)
      if (changes.length > 0) await journal.setPools(plan.app, changes)
    },
  }
  return harness
}

/**
 * A harness for the step of `kind`, and `run`: the definition's run, after which the release
 * ends (done or failed), so that the next test over the same journal can start one.
 */
export async function stepRunner<K extends PhaseKind>(
  kind: K,
  options: PhaseHarnessOptions,
): Promise<{ harness: PhaseHarness<PhaseConfig<K>>; run: () => Promise<string> }> {
  const harness = await phaseHarness(kind, options)
  const definition = phaseDefinition(kind)!
  const finish = (status: 'done' | 'failed') => options.journal.finishRelease(harness.release.id, { status })
  const run = () =>
    definition.run(harness.ctx).then(
      async (summary: string) => {
        await finish('done')
        return summary
      },
      async (error: unknown) => {
        await finish('failed')
        throw error
      },
    )
  return { harness, run }
}

/** Both pools' app servers behind a real HAProxy, with the adapter the plan would create. */
export interface HaproxyFixture {
  apps: PoolApps
  haproxy: TestHaproxy
  lb: LoadBalancer
  /** The plan's loadBalancer and pools sections for this HAProxy. */
  sections: Pick<RawPlan, 'loadBalancer' | 'pools'>
  stop(): Promise<void>
}

export async function startHaproxyFixture(
  perPool: number,
  versions: { blue: string; green: string },
): Promise<HaproxyFixture> {
  const apps = await startPoolApps(perPool, versions)
  const haproxy = await startHaproxy({ apps, live: 'blue' }).catch(async (error: unknown) => {
    await closeApps(apps)
    throw error
  })
  return {
    apps,
    haproxy,
    lb: createHaproxy(haproxy.config, haproxy.pools),
    sections: { loadBalancer: haproxy.config, pools: haproxy.pools },
    async stop() {
      await haproxy.stop()
      await closeApps(apps)
    },
  }
}

/** A table's columns in order, as the catalog has them. */
export async function columns(client: Client, table: string): Promise<string[]> {
  const { rows } = await client.query<{ column_name: string }>(
    'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
    [table],
  )
  return rows.map((r) => r.column_name)
}

/** The sync of test/fixtures/sync/plan.yaml: profiles.name split into first_name and last_name. */
export const nameSplit = {
  table: 'profiles',
  forward: { first_name: "split_part(name, ' ', 1)", last_name: "nullif(split_part(name, ' ', 2), '')" },
  backward: { name: "concat_ws(' ', first_name, last_name)" },
}
