/**
 * A release, top-down: take the lock, settle what an earlier crash left, decide (or recover) the
 * pools, then run each step of the plan in order, journaling it before and after. The lock is
 * verified before every step and every load-balancer write. What a failure means is decided by
 * the outcome table (outcome.ts).
 */
import { hostname } from 'node:os'
import { BluegreenError, ExitCode, isBluegreenError } from '../errors.js'
import { describeTraffic, otherPool, type LoadBalancer, type PoolName } from '../lb/types.js'
import { describePlan } from '../plan/describe.js'
import { planSteps } from '../phases/index.js'
import type { AnyPhaseDefinition, PhaseRunContext } from '../phases/types.js'
import type { EngineContext } from './context.js'
import type { StepInfo } from '../events.js'
import { failpoint } from '../failpoint.js'
import { currentHolderFor } from '../journal/holder.js'
import type { Lease, ReleaseRecord } from '../journal/journal.js'
import { decideFailure, type Moved } from './outcome.js'
import { rollbackTo, settleInterrupted } from './rollback.js'
import { atGate } from './approve.js'
import { notifyRelease } from './notify-release.js'
import { asCandidate, promoted, recordedLive } from './standing.js'
import { rememberChanges } from '../journal/spool.js'
import { connectionLostError } from '../db/client.js'

export interface ReleaseOptions {
  version?: string
  resume: boolean
  /** With resume: accept a plan that changed since the release started. Without: release a version that is already live. */
  force: boolean
  dryRun: boolean
  /**
   * The version the live pool runs, for a journal that has never seen it released (the first
   * release): recorded so that a rollback to it can confirm it by version, and status shows it.
   */
  liveVersion?: string
  /** With resume: approve the approve step the release waits at (approve.ts), then continue. */
  approve?: boolean
}

export interface ReleaseResult {
  ok: true
  releaseId: string
  app: string
  version: string
  from: string
  to: string
  resumed: boolean
  dryRun: boolean
  /** True when the version was already live: nothing was done. */
  unchanged?: boolean
  /** Whether the plan moves traffic (has a switch phase): only then is the version "live". */
  switched: boolean
  steps: { index: number; kind: string; status: 'done' | 'skipped' | 'planned'; summary: string }[]
}

/** The load balancer as a release uses it: every write first proves the lock is still ours. */
function fenced(lb: LoadBalancer, lease: Lease): LoadBalancer {
  return new Proxy(lb, {
    get(target, property, receiver) {
      if (property === 'shift')
        return async (...args: Parameters<LoadBalancer['shift']>) => {
          await lease.verify()
          return target.shift(...args)
        }
      return Reflect.get(target, property, receiver) as unknown
    },
  })
}

function hasSwitch(ctx: EngineContext): boolean {
  return planSteps(ctx.plan).some((step) => step.definition.movesTraffic)
}

export async function release(ctx: EngineContext, options: ReleaseOptions): Promise<ReleaseResult> {
  if (options.dryRun) return dryRun(ctx, options)
  const { plan, journal } = ctx
  return journal.withLock(plan.app, currentHolderFor(ctx), async (lease) => {
    const locked: EngineContext = { ...ctx, lb: fenced(ctx.lb, lease) }
    await settleInterrupted(locked)
    const begun = await beginOrResume(locked, options)
    if ('unchanged' in begun) return begun.unchanged
    const record = begun.record
    if (options.resume) await atGate(locked, lease, record, options.approve ?? false)
    // Which process runs it: status tells a running release from an interrupted one by it.
    await journal.setRunner(record.id, { pid: process.pid, host: hostname() })
    const done = new Set(
      (await journal.steps(record.id)).filter((s) => s.status === 'done').map((s) => s.index),
    )
    const steps = stepInfos(ctx, record)
    ctx.emit({
      type: 'release.start',
      app: plan.app,
      version: record.version,
      releaseId: record.id,
      from: record.from,
      to: record.to,
      resumed: options.resume,
      dryRun: false,
      steps,
    })
    notifyRelease(ctx, record, 'release.started', { by: ctx.actor })

    const results: ReleaseResult['steps'] = []
    for (const step of steps) {
      if (done.has(step.index)) {
        ctx.emit({
          type: 'step.skip',
          index: step.index,
          kind: step.kind,
          reason: 'done before the interruption',
        })
        results.push({
          index: step.index,
          kind: step.kind,
          status: 'skipped',
          summary: 'done before the interruption',
        })
        continue
      }
      const summary = await runStep(locked, lease, record, step)
      results.push({ index: step.index, kind: step.kind, status: 'done', summary })
    }
    await lease.verify()
    // Verified and not switched back: the new pool is live, the old one the standby.
    if (hasSwitch(ctx)) await promote(locked, record, standbyWindow(ctx))
    await recordInJournal(locked, record, () =>
      journal.finishRelease(record.id, { status: 'done', reachedUsers: hasSwitch(ctx) }),
    )
    await journal
      .audit({
        app: plan.app,
        action: 'release',
        actor: ctx.actor,
        detail: hasSwitch(ctx)
          ? `${record.version} released to ${record.to}`
          : `${record.version} deployed to ${record.to} (the plan has no switch phase)`,
      })
      .catch((error: Error) =>
        ctx.emit({ type: 'warning', message: `the audit entry could not be written: ${error.message}` }),
      )
    notifyRelease(ctx, record, 'release.done', { by: ctx.actor })
    return {
      ok: true,
      releaseId: record.id,
      app: plan.app,
      version: record.version,
      from: record.from,
      to: record.to,
      resumed: options.resume,
      dryRun: false,
      switched: hasSwitch(ctx),
      steps: results,
    }
  })
}

/** The plan's standby window (its standby phase), or none: kept until retired or replaced. */
function standbyWindow(ctx: EngineContext): number | undefined {
  for (const { definition, config } of planSteps(ctx.plan)) {
    const windowMs = definition.standbyWindowMs?.(config)
    if (windowMs !== undefined) return windowMs
  }
  return undefined
}

/** The new pool is live, the one it replaced is the standby: once, idempotently. */
async function promote(
  ctx: EngineContext,
  record: ReleaseRecord,
  windowMs: number | undefined,
): Promise<void> {
  const pools = await ctx.journal.pools(ctx.plan.app)
  const changes = promoted(pools, record, windowMs)
  if (changes.length === 0) return
  await ctx.journal.setPools(ctx.plan.app, changes)
  rememberChanges(ctx.plan.app, changes)
}

async function beginOrResume(
  ctx: EngineContext,
  options: ReleaseOptions,
): Promise<{ record: ReleaseRecord } | { unchanged: ReleaseResult }> {
  const { plan, journal, lb } = ctx
  const unfinished = await journal.unfinishedRelease(plan.app)
  if (options.resume) {
    if (!unfinished) {
      throw new BluegreenError({
        code: 'NOTHING_TO_RESUME',
        message: `${plan.app} has no unfinished release to resume`,
        hint: 'start a new one without --resume',
      })
    }
    if (unfinished.planHash !== ctx.planHash && !options.force) {
      throw new BluegreenError({
        code: 'PLAN_CHANGED',
        message: `the plan changed since release ${unfinished.version} started`,
        hint: 'resume with the plan it started with, or add --force to continue with this one',
      })
    }
    const requested = options.version ?? plan.version
    if (requested && requested !== unfinished.version) {
      throw new BluegreenError({
        code: 'UNFINISHED_RELEASE',
        message: `the unfinished release is ${unfinished.version}, not ${requested}`,
        hint: `resume ${unfinished.version} first (or close it with \`bluegreen rollback\`), then release ${requested}`,
      })
    }
    // Reconcile with the load balancer: it, not the journal, says where traffic is.
    const traffic = await lb.traffic()
    ctx.emit({ type: 'info', message: `resuming ${unfinished.version}: ${describeTraffic(traffic)}` })
    await journal.audit({
      app: plan.app,
      action: 'release.resume',
      actor: ctx.actor,
      detail: `${unfinished.version} (${describeTraffic(traffic)})`,
    })
    return { record: unfinished }
  }
  if (unfinished) {
    throw new BluegreenError({
      code: 'UNFINISHED_RELEASE',
      message: `release ${unfinished.version} of ${plan.app} (started ${unfinished.startedAt}) did not finish`,
      hint: 'continue it with `bluegreen release PLAN --resume`, or undo it with `bluegreen rollback --plan PLAN` (it switches back only if traffic had moved)',
    })
  }
  const version = options.version ?? plan.version
  if (!version) {
    throw new BluegreenError({
      code: 'USAGE',
      message: 'no version to release',
      hint: 'pass --version V (or BLUEGREEN_VERSION), or set `version:` in the plan',
    })
  }
  const traffic = await lb.traffic()
  if (traffic.split) {
    throw new BluegreenError({
      code: 'SWITCH_FAILED',
      exitCode: ExitCode.needsHuman,
      message: `traffic is split between the pools (${describeTraffic(traffic)}), so the inactive pool is unclear`,
      hint: 'finish or undo that switch first (`bluegreen rollback --plan PLAN` sends all traffic to one pool)',
    })
  }
  const pools = await recordLiveVersion(ctx, traffic.live, options.liveVersion)
  const live = pools[traffic.live]
  // Releasing what already serves production would deploy it over the rollback target.
  if (live?.standing === 'live' && live.version === version && !options.force) {
    const message = `${version} is already live on ${traffic.live}; nothing to release (\`--force\` releases it again, over ${otherPool(traffic.live)})`
    ctx.emit({ type: 'info', message })
    return {
      unchanged: {
        ok: true,
        releaseId: live.releaseId ?? '',
        app: plan.app,
        version,
        from: traffic.live,
        to: traffic.live,
        resumed: false,
        dryRun: false,
        unchanged: true,
        switched: false,
        steps: [],
      },
    }
  }
  return {
    record: await journal.startRelease({
      app: plan.app,
      version,
      planHash: ctx.planHash,
      from: traffic.live,
      to: otherPool(traffic.live),
    }),
  }
}

/**
 * What the live pool runs, when the journal has no record of it: the journal learns it from
 * --live-version (as release 0), or records the pool as live with its version unknown. A
 * journal that disagrees with the load balancer is said so. Returns the pools as they stand.
 */
async function recordLiveVersion(ctx: EngineContext, live: PoolName, liveVersion: string | undefined) {
  const { journal, plan, emit } = ctx
  const pools = await journal.pools(plan.app)
  const known = pools[live]
  if (known) {
    if (liveVersion && liveVersion !== known.version)
      emit({
        type: 'warning',
        message: `--live-version ${liveVersion} ignored: the journal records ${live} running ${known.version ?? 'an unrecorded version'}${known.releaseSeq > 0 ? ', which bluegreen released' : ', from an earlier --live-version'}`,
      })
    if (known.standing !== 'live')
      emit({
        type: 'warning',
        message: `the load balancer sends traffic to ${live}, but the journal has it as ${known.standing.replace('_', ' ')} (${known.version ?? 'unknown version'}): was it switched by hand? It will not become the rollback target`,
      })
    return pools
  }
  if (!liveVersion)
    emit({
      type: 'info',
      message: `the journal does not know which version ${live} runs (bluegreen did not release it): a rollback to ${live} will be confirmed by health, not by version; pass --live-version on this release to record it`,
    })
  const record = recordedLive(live, liveVersion)
  await journal
    .audit({
      app: plan.app,
      action: 'release.0',
      actor: ctx.actor,
      detail: `${live} was live before bluegreen's first release, on ${liveVersion ?? 'a version nobody recorded (no --live-version)'}`,
    })
    .catch(() => {})
  const other = pools[otherPool(live)]
  // A journal whose live pool is the other one (switched by hand since): that one is not live.
  const changes = other?.standing === 'live' ? [record, { ...other, standing: 'standby' as const }] : [record]
  await journal.setPools(plan.app, changes)
  rememberChanges(plan.app, changes)
  return { ...pools, [live]: record }
}

function stepInfos(ctx: EngineContext, record: { version: string; to: string }): StepInfo[] {
  const vars = { app: ctx.plan.app, version: record.version, pool: record.to }
  return describePlan(ctx.plan, vars).map((description, index) => ({
    index,
    kind: description.kind,
    summary: description.summary,
    touches: description.touches,
  }))
}

/**
 * Lets the next step's phase load what it needs (its warmUp) once this step's run has started,
 * at the loop's first idle moment: while a deploy command runs, say, rather than after it.
 */
function warmUpNext(steps: { definition: AnyPhaseDefinition }[], index: number): void {
  const next = steps[index + 1]?.definition
  if (next?.warmUp) setImmediate(() => void next.warmUp!().catch(() => undefined))
}

async function runStep(
  ctx: EngineContext,
  lease: Lease,
  record: ReleaseRecord,
  step: StepInfo,
): Promise<string> {
  const { journal, emit } = ctx
  const steps = planSteps(ctx.plan)
  const { kind, config, definition: phase } = steps[step.index]
  const runContext: PhaseRunContext = {
    ...ctx,
    config,
    steps,
    index: step.index,
    release: record,
    to: record.to,
    from: record.from,
    vars: { app: ctx.plan.app, version: record.version, pool: record.to },
    progress: (message, numbers) =>
      emit({ type: 'step.progress', index: step.index, kind, message, ...numbers }),
    output: (stream, line) => emit({ type: 'step.output', index: step.index, kind, stream, line }),
    promote: (windowMs) => promote(ctx, record, windowMs),
  }
  failpoint(`step:${step.index}:before`)
  await lease.verify()
  await recordInJournal(ctx, record, () => journal.stepStarted(record.id, step.index, kind))
  failpoint(`step:${step.index}:started`)
  emit({ type: 'step.start', index: step.index, kind, summary: step.summary })
  const started = Date.now()
  let summary: string
  try {
    // Before the pool is touched, it stops being a rollback target: a crash mid-deploy must
    // not leave a half-replaced pool recorded as the known-good standby.
    if (phase.replacesPool) await markCandidate(ctx, record)
    ctx.signal.throwIfAborted()
    warmUpNext(steps, step.index)
    summary = await phase.run(runContext)
  } catch (caught) {
    const ms = Date.now() - started
    const error = asUserError(caught, ctx.signal)
    // A gate that waits has not failed: it said so (approval.waiting).
    if (error.code !== 'AWAITING_APPROVAL')
      emit({
        type: 'step.fail',
        index: step.index,
        kind,
        ms,
        code: error.code,
        message: error.message,
        hint: error.hint,
        details: error.details,
      })
    throw await afterFailure(ctx, lease, record, step, phase, error, ms)
  }
  failpoint(`step:${step.index}:ran`)
  const ms = Date.now() - started
  await recordInJournal(ctx, record, () => journal.stepFinished(record.id, step.index, 'done', ms, summary))
  emit({ type: 'step.done', index: step.index, kind, ms, summary })
  return summary
}

async function markCandidate(ctx: EngineContext, record: ReleaseRecord): Promise<void> {
  const current = (await ctx.journal.pools(ctx.plan.app))[record.to]
  if (current?.releaseId === record.id) return
  const change = asCandidate(record)
  await ctx.journal.setPools(ctx.plan.app, [change])
  rememberChanges(ctx.plan.app, [change])
}

/**
 * A journal write that fails (the database went away) is not a failure of the release: the
 * step itself did its work or has not started. Stop, leave the release unfinished, and say how
 * to continue; nothing is switched back for it.
 */
async function recordInJournal(
  ctx: EngineContext,
  record: ReleaseRecord,
  write: () => Promise<void>,
): Promise<void> {
  try {
    await write()
  } catch (caught) {
    const error = asUserError(caught, ctx.signal)
    const { moved, traffic } = await trafficMoved(ctx, record)
    const plan = decideFailure({
      error,
      moved,
      rollbackOnFailure: false,
      version: record.version,
      from: record.from,
      to: record.to,
      traffic,
    })
    throw 'error' in plan ? plan.error : error
  }
}

/** Whether traffic had reached the release's pool: read once, for the whole decision. */
async function trafficMoved(
  ctx: EngineContext,
  record: ReleaseRecord,
): Promise<{ moved: Moved; traffic?: string }> {
  try {
    const traffic = await ctx.lb.traffic()
    return { moved: traffic.weights[record.to] > 0 ? 'after' : 'before', traffic: describeTraffic(traffic) }
  } catch {
    return { moved: 'unknown' }
  }
}

/** Carries out what the outcome table decides for a failed step, and returns the error to exit with. */
async function afterFailure(
  ctx: EngineContext,
  lease: Lease,
  record: ReleaseRecord,
  step: StepInfo,
  phase: AnyPhaseDefinition,
  error: BluegreenError,
  ms: number,
): Promise<BluegreenError> {
  const { journal } = ctx
  // A holder that lost its lock writes nothing more: another command may be acting now.
  if (error.code === 'LOCK_LOST') return error
  const { moved, traffic } = await trafficMoved(ctx, record)
  const plan = decideFailure({
    error,
    moved,
    rollbackOnFailure: phase.rollbackOnFailure,
    version: record.version,
    from: record.from,
    to: record.to,
    traffic,
  })
  // The journal keeps the message and the first lines of detail (e.g. a deploy's last output).
  const failure = [error.message, ...error.details.slice(0, 5)].join('\n')
  if (plan.action === 'stop') {
    if (plan.journal) await journal.stepFinished(record.id, step.index, 'failed', ms, failure).catch(() => {})
    return plan.error
  }
  await journal.stepFinished(record.id, step.index, 'failed', ms, failure).catch(() => {})
  const failedStep = { index: step.index, kind: step.kind }
  const reachedUsers = moved !== 'before'
  await journal
    .finishRelease(record.id, { status: 'failed', error: error.message, failedStep, reachedUsers })
    .catch(() => {})
  if (plan.action === 'fail') {
    if (plan.promote) await promote(ctx, record, standbyWindow(ctx)).catch(() => {})
    notifyRelease(ctx, record, 'release.failed', { reason: `${plan.error.code}: ${plan.error.message}` })
    return plan.error
  }
  // Traffic already reached the new pool: switch back, automatically.
  try {
    await rollbackTo(ctx, {
      to: record.from,
      reason: `${error.code}: ${error.message}`,
      automatic: true,
      releaseId: record.id,
      lease,
    })
  } catch (rollbackError) {
    if (isBluegreenError(rollbackError) && rollbackError.code === 'LOCK_LOST') return rollbackError
    notifyRelease(ctx, record, 'release.failed', {
      reason: `${error.code}: ${error.message}; the automatic rollback failed too`,
    })
    return plan.rollbackFailed(
      isBluegreenError(rollbackError) ? rollbackError.message : String(rollbackError),
    )
  }
  return plan.rolledBack()
}

function asUserError(caught: unknown, signal: AbortSignal): BluegreenError {
  if (isBluegreenError(caught)) return caught
  const lost = connectionLostError(caught, 'running the step')
  if (isBluegreenError(lost)) return lost
  if (signal.aborted)
    return new BluegreenError({
      code: 'INTERRUPTED',
      message: 'interrupted',
      hint: 'resume with `bluegreen release PLAN --resume`',
    })
  throw caught
}

async function dryRun(ctx: EngineContext, options: ReleaseOptions): Promise<ReleaseResult> {
  const version = options.version ?? ctx.plan.version ?? '{{version}}'
  let from = 'the live pool'
  let to = '{{pool}} (the inactive pool)'
  try {
    const traffic = await ctx.lb.traffic()
    from = traffic.live
    to = otherPool(traffic.live)
  } catch (error) {
    ctx.emit({
      type: 'warning',
      message: `cannot read the load balancer, so the inactive pool is unknown: ${(error as Error).message}`,
    })
  }
  const steps = await withDryRunDetails(ctx, stepInfos(ctx, { version, to }))
  ctx.emit({
    type: 'release.start',
    app: ctx.plan.app,
    version,
    releaseId: 'dry-run',
    from,
    to,
    resumed: false,
    dryRun: true,
    steps,
  })
  return {
    ok: true,
    releaseId: 'dry-run',
    app: ctx.plan.app,
    version,
    from,
    to,
    resumed: false,
    dryRun: true,
    switched: false,
    steps: steps.map((s) => ({ index: s.index, kind: s.kind, status: 'planned', summary: s.summary })),
  }
}

/**
 * What a dry run can say beyond the plan: the migration files each expand and contract would
 * run (those the journal has not recorded as applied), and the rows a backfill would touch (the
 * planner's estimate, when the database answers).
 */
async function withDryRunDetails(ctx: EngineContext, steps: StepInfo[]): Promise<StepInfo[]> {
  const client = ctx.journalOffline ? undefined : ctx.journal.contracts?.connection
  const applied = client
    ? await import('../db/migrations.js')
        .then(({ appliedMigrations }) => appliedMigrations(client, ctx.plan.app))
        .catch(() => [])
    : []
  const planned = planSteps(ctx.plan)
  return Promise.all(
    steps.map(async (step) => {
      const { definition, config } = planned[step.index]
      // A dry run explains what it can; the step's own summary stands.
      const more = await definition
        .dryRun?.(config, { plan: ctx.plan, planDir: ctx.planDir, client, applied })
        .catch(() => undefined)
      return more ? { ...step, summary: `${step.summary}; ${more}` } : step
    }),
  )
}
