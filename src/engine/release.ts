/**
 * A release, top-down: take the lock, decide (or recover) the pools, then run each step of
 * the plan in order, journaling it before and after. A failure before traffic moved leaves
 * production untouched (exit 1); a failure after it switches back automatically (exit 3).
 */
import { connectionLostError } from '../db/client.js'
import { BluegreenError, ExitCode, isBluegreenError } from '../errors.js'
import { otherPool, type PoolName, type Traffic } from '../lb/types.js'
import { describeStep } from '../plan/describe.js'
import { phaseOf, type PhaseKind } from '../plan/schema.js'
import { phases } from '../phases/index.js'
import type { Phase, PhaseRunContext } from '../phases/types.js'
import type { EngineContext } from './context.js'
import type { StepInfo } from './events.js'
import { currentHolderFor } from './holder.js'
import type { ReleaseRecord } from './journal.js'
import { rollbackTo } from './rollback.js'
import { failpoint } from './failpoint.js'
import { flushSpool } from './spool.js'

export interface ReleaseOptions {
  version?: string
  resume: boolean
  /** With resume: accept a plan that changed since the release started. */
  force: boolean
  dryRun: boolean
  /**
   * The version the live pool runs, for a journal that has never seen it released (the first
   * release): recorded so that a rollback to it can confirm it by version, and status shows it.
   */
  liveVersion?: string
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
  steps: { index: number; kind: PhaseKind; status: 'done' | 'skipped' | 'planned'; summary: string }[]
}

export async function release(ctx: EngineContext, options: ReleaseOptions): Promise<ReleaseResult> {
  if (options.dryRun) return dryRun(ctx, options)
  const { plan, journal } = ctx
  return journal.withLock(plan.app, currentHolderFor(ctx), async () => {
    await flushSpool(ctx)
    const record = await beginOrResume(ctx, options)
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
      const summary = await runStep(ctx, record, step)
      results.push({ index: step.index, kind: step.kind, status: 'done', summary })
    }
    await recordInJournal(ctx, record, () => journal.finishRelease(record.id, 'done'))
    await journal
      .audit({
        app: plan.app,
        action: 'release',
        actor: ctx.actor,
        detail: `${record.version} released to ${record.to}`,
      })
      .catch((error: Error) =>
        ctx.emit({ type: 'warning', message: `the audit entry could not be written: ${error.message}` }),
      )
    return {
      ok: true,
      releaseId: record.id,
      app: plan.app,
      version: record.version,
      from: record.from,
      to: record.to,
      resumed: options.resume,
      dryRun: false,
      steps: results,
    }
  })
}

async function beginOrResume(ctx: EngineContext, options: ReleaseOptions): Promise<ReleaseRecord> {
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
        hint: `resume ${unfinished.version} first (or roll it back with \`bluegreen rollback\`), then release ${requested}`,
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
    return unfinished
  }
  if (unfinished) {
    throw new BluegreenError({
      code: 'UNFINISHED_RELEASE',
      message: `release ${unfinished.version} of ${plan.app} (started ${unfinished.startedAt}) did not finish`,
      hint: 'continue it with `bluegreen release PLAN --resume`, or undo it with `bluegreen rollback --plan PLAN`',
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
  await recordLiveVersion(ctx, traffic.live, options.liveVersion)
  return journal.startRelease({
    app: plan.app,
    version,
    planHash: ctx.planHash,
    from: traffic.live,
    to: otherPool(traffic.live),
  })
}

/**
 * What the live pool runs, when the journal has not seen it released: the journal learns it
 * from --live-version (as release 0), or the operator learns why a rollback to it will not be
 * confirmed by version. A version the journal already has is not overwritten.
 */
async function recordLiveVersion(ctx: EngineContext, live: PoolName, liveVersion: string | undefined) {
  const { journal, plan, emit } = ctx
  const known = (await journal.pools(plan.app))[live]
  if (known) {
    if (liveVersion && liveVersion !== known.version)
      emit({
        type: 'warning',
        message: `--live-version ${liveVersion} ignored: the journal records ${live} running ${known.version}${known.releaseSeq > 0 ? ', which bluegreen released' : ', from an earlier --live-version'}`,
      })
    return
  }
  if (!liveVersion) {
    emit({
      type: 'info',
      message: `the journal does not know which version ${live} runs (bluegreen did not release it): a rollback to ${live} will be confirmed by health, not by version; pass --live-version on this release to record it`,
    })
    return
  }
  await journal.setPool(plan.app, {
    pool: live,
    version: liveVersion,
    releaseSeq: 0,
    deployedAt: new Date().toISOString(),
  })
}

function stepInfos(ctx: EngineContext, record: { version: string; to: string }): StepInfo[] {
  const vars = { app: ctx.plan.app, version: record.version, pool: record.to }
  return ctx.plan.phases.map((entry, index) => {
    const { kind } = phaseOf(entry)
    const description = describeStep(entry, ctx.plan, vars)
    return { index, kind, summary: description.summary, touches: description.touches }
  })
}

async function runStep(ctx: EngineContext, record: ReleaseRecord, step: StepInfo): Promise<string> {
  const { journal, emit } = ctx
  const entry = ctx.plan.phases[step.index]
  const { kind, config } = phaseOf(entry)
  const phase = phases[kind] as Phase<PhaseKind>
  const runContext: PhaseRunContext<PhaseKind> = {
    ...ctx,
    config,
    index: step.index,
    release: record,
    to: record.to,
    from: record.from,
    vars: { app: ctx.plan.app, version: record.version, pool: record.to },
    progress: (message, numbers) =>
      emit({ type: 'step.progress', index: step.index, kind, message, ...numbers }),
    output: (stream, line) => emit({ type: 'step.output', index: step.index, kind, stream, line }),
  }
  failpoint(`step:${step.index}:before`)
  await recordInJournal(ctx, record, () => journal.stepStarted(record.id, step.index, kind))
  failpoint(`step:${step.index}:started`)
  emit({ type: 'step.start', index: step.index, kind, summary: step.summary })
  const started = Date.now()
  let summary: string
  try {
    ctx.signal.throwIfAborted()
    summary = await phase.run(runContext)
  } catch (caught) {
    const ms = Date.now() - started
    const error = asUserError(caught, ctx.signal)
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
    // The journal keeps the message and the first lines of detail (e.g. a deploy's last output).
    const failure = [error.message, ...error.details.slice(0, 5)].join('\n')
    await journal.stepFinished(record.id, step.index, 'failed', ms, failure).catch(() => {})
    throw await afterFailure(ctx, record, phase, error)
  }
  failpoint(`step:${step.index}:ran`)
  const ms = Date.now() - started
  await recordInJournal(ctx, record, () => journal.stepFinished(record.id, step.index, 'done', ms, summary))
  emit({ type: 'step.done', index: step.index, kind, ms, summary })
  return summary
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
    const traffic = await ctx.lb.traffic().catch(() => undefined)
    const moved = traffic === undefined || traffic.weights[record.to] > 0
    throw new BluegreenError({
      code: error.code,
      exitCode: moved ? ExitCode.needsHuman : ExitCode.failedBeforeSwitch,
      message: `release ${record.version} stopped: the journal could not be written (${error.message})${traffic ? `; ${describeTraffic(traffic)}` : ''}`,
      hint: 'once the database is back, `bluegreen release PLAN --resume` continues from the first step not recorded as done (steps are idempotent)',
      cause: error,
    })
  }
}

/** Decides what a failed step means for production, and returns the error to exit with. */
async function afterFailure(
  ctx: EngineContext,
  record: ReleaseRecord,
  phase: Phase<PhaseKind>,
  error: BluegreenError,
): Promise<BluegreenError> {
  const { journal, lb } = ctx
  if (error.code === 'INTERRUPTED') {
    // Left unfinished on purpose, so that --resume can carry on.
    const traffic = await lb.traffic().catch(() => undefined)
    const moved = traffic !== undefined && traffic.weights[record.to] > 0
    return new BluegreenError({
      code: 'INTERRUPTED',
      exitCode: moved ? ExitCode.needsHuman : ExitCode.failedBeforeSwitch,
      message: `release ${record.version} was interrupted${traffic ? ` (${describeTraffic(traffic)})` : ''}`,
      hint: 'continue it with `bluegreen release PLAN --resume`, or undo it with `bluegreen rollback --plan PLAN`',
    })
  }
  let traffic: Traffic
  try {
    traffic = await lb.traffic()
  } catch (lbError) {
    await journal.finishRelease(record.id, 'failed', error.message).catch(() => {})
    return new BluegreenError({
      code: 'ROLLBACK_FAILED',
      message: `${error.message}; and the load balancer cannot be read to check where traffic goes: ${(lbError as Error).message}`,
      details: error.details,
      hint: 'check the load balancer by hand; `bluegreen rollback --plan PLAN` switches back once it answers',
    })
  }
  if (traffic.weights[record.to] === 0) {
    // With the database gone the release stays unfinished in the journal: --resume picks it up.
    await journal.finishRelease(record.id, 'failed', error.message).catch(() => {})
    return error.exitCode === ExitCode.failedBeforeSwitch || error.exitCode === ExitCode.usage
      ? error
      : new BluegreenError({
          ...error.toJSON(),
          code: error.code,
          exitCode: ExitCode.failedBeforeSwitch,
          cause: error,
        })
  }
  if (!phase.rollbackOnFailure) {
    await journal.finishRelease(record.id, 'failed', error.message).catch(() => {})
    return new BluegreenError({
      code: error.code === 'CONTRACT_FAILED' ? 'CONTRACT_FAILED' : error.code,
      exitCode: ExitCode.needsHuman,
      message: `${error.message} (after the switch; ${record.to} stays live)`,
      details: error.details,
      hint:
        error.hint ??
        'production runs the new version; fix the cause, then finish with `bluegreen contract PLAN`',
    })
  }
  // Traffic already reached the new pool: switch back, automatically.
  try {
    await rollbackTo(ctx, {
      to: record.from,
      reason: `${error.code}: ${error.message}`,
      automatic: true,
      release: record,
    })
  } catch (rollbackError) {
    await journal.finishRelease(record.id, 'failed', error.message).catch(() => {})
    const why = isBluegreenError(rollbackError) ? rollbackError.message : String(rollbackError)
    return new BluegreenError({
      code: 'ROLLBACK_FAILED',
      message: `${error.message}; then the automatic rollback to ${record.from} failed too: ${why}`,
      details: error.details,
      hint: `production may still send traffic to ${record.to}; run \`bluegreen rollback --plan PLAN\` or switch the load balancer by hand`,
    })
  }
  return new BluegreenError({
    code: error.code === 'VERIFY_FAILED' ? 'VERIFY_FAILED' : 'ROLLED_BACK',
    exitCode: ExitCode.rolledBack,
    message: `${error.message}; traffic was switched back to ${record.from}`,
    details: error.details,
    hint: `production runs the previous version again; ${record.version} stays deployed on ${record.to} for inspection`,
  })
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

export function describeTraffic(traffic: Traffic): string {
  return traffic.split
    ? `blue ${traffic.weights.blue}% / green ${traffic.weights.green}%`
    : `${traffic.live} is live`
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
  const steps = stepInfos(ctx, { version, to })
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
    steps: steps.map((s) => ({ index: s.index, kind: s.kind, status: 'planned', summary: s.summary })),
  }
}
