/**
 * Approval gates: a release that reaches an approve step unapproved stops there, unfinished
 * (the step stays `started`, traffic stays as it is, the lock is released) and continues with
 * `bluegreen approve PLAN` or `release PLAN --resume --approve`. The gate's state is in the
 * journal (audit entries of the release: `approval.waiting`, `approve`, `approval.timeout`), so
 * a killed waiting process loses nothing. Timeouts act when the next command sees them.
 */
import { BluegreenError, ExitCode, isBluegreenError } from '../errors.js'
import { describeTraffic } from '../lb/types.js'
import { gateState, type ApproveConfig, type GateState } from '../phases/approve.js'
import { planSteps } from '../phases/index.js'
import { currentHolderFor } from '../journal/holder.js'
import type { AuditEntry, Lease, ReleaseRecord } from '../journal/journal.js'
import type { EngineContext } from './context.js'
import { notifyRelease } from './notify-release.js'
import { rollbackTo } from './rollback.js'

export interface Gate extends GateState {
  release: ReleaseRecord
  /** The approve step's index in the plan. */
  index: number
  config: ApproveConfig
}

/**
 * The approve step the unfinished release stopped at: its last recorded step, still `started`,
 * of kind approve and recorded as waiting (or approved, when the continuation was cut short).
 */
export async function waitingGate(
  ctx: Pick<EngineContext, 'journal' | 'plan'>,
  release: ReleaseRecord,
  now = new Date(),
): Promise<Gate | undefined> {
  const last = (await ctx.journal.steps(release.id)).at(-1)
  if (last?.kind !== 'approve' || last.status !== 'started') return undefined
  const step = planSteps(ctx.plan)[last.index]
  if (step?.kind !== 'approve') return undefined
  const config = step.config as ApproveConfig
  const state = gateState(await ctx.journal.releaseAudit(release.id), last.index, config, now)
  if (!state.since && !state.approved) return undefined
  return { ...state, release, index: last.index, config }
}

/**
 * On --resume (and `approve`), before any step runs: an expired gate's onTimeout acts (and the
 * error says what it did); with `approve`, the approval is recorded for the gate it waits at.
 */
export async function atGate(ctx: EngineContext, lease: Lease, record: ReleaseRecord, approve: boolean) {
  const gate = await waitingGate(ctx, record)
  if (gate?.expired) throw await timeOut(ctx, lease, gate)
  if (!approve) return
  if (!gate)
    throw new BluegreenError({
      code: 'NOTHING_TO_RESUME',
      message: `release ${record.version} of ${ctx.plan.app} does not wait for approval`,
      hint: 'see where it stands with `bluegreen status --plan PLAN`; `bluegreen release PLAN --resume` continues it without approving',
    })
  if (gate.approved) {
    ctx.emit({
      type: 'info',
      message: `step ${gate.index + 1} was approved by ${gate.approved.actor} at ${gate.approved.at}`,
    })
    return
  }
  await ctx.journal.audit({
    app: ctx.plan.app,
    action: 'approve',
    actor: ctx.actor,
    releaseId: record.id,
    step: gate.index,
    detail: `${record.version} approved at step ${gate.index + 1} (it waited since ${gate.since})`,
  })
  ctx.emit({ type: 'info', message: `${record.version} approved by ${ctx.actor}` })
}

export type CheckResult =
  | { action: 'none'; message: string }
  | { action: 'waiting'; releaseId: string; version: string; step: number; deadline: string; message: string }
  | {
      action: 'timed out'
      releaseId: string
      version: string
      step: number
      message: string
      exitCode: number
    }

/**
 * What `approve --check` and `status` do: when the unfinished release waits at a gate whose time
 * is up, take the lock and apply onTimeout. Never continues a release.
 */
export async function expireGate(ctx: EngineContext): Promise<CheckResult> {
  if (ctx.journalOffline) return { action: 'none', message: 'the journal is unreachable' }
  const release = await ctx.journal.unfinishedRelease(ctx.plan.app)
  const gate = release && (await waitingGate(ctx, release))
  if (!release || !gate || gate.approved)
    return { action: 'none', message: `no release of ${ctx.plan.app} waits for approval` }
  const found = { releaseId: release.id, version: release.version, step: gate.index }
  if (!gate.expired)
    return {
      action: 'waiting',
      ...found,
      deadline: gate.deadline!,
      message: `${release.version} waits for approval until ${gate.deadline}`,
    }
  return ctx.journal.withLock(ctx.plan.app, currentHolderFor(ctx), async (lease) => {
    // Read again under the lock: someone may have approved or acted since.
    const current = await ctx.journal.release(release.id)
    const locked = current?.status === 'running' ? await waitingGate(ctx, current) : undefined
    if (!locked?.expired)
      return { action: 'none' as const, message: 'the gate was settled by another command meanwhile' }
    const error = await timeOut(ctx, lease, locked)
    return { action: 'timed out' as const, ...found, message: error.message, exitCode: error.exitCode }
  })
}

/**
 * Nobody approved in time. Traffic moved: switch back (abandon acts as rollback then, and says
 * so). Not moved: close the release, as rolled back (rollback, like `bluegreen rollback` closes
 * a release that never reached users) or failed (abandon). Returns the error the command exits
 * with (exit 3 after a switch back, 1 when users never saw it, 5 when the switch back failed).
 */
async function timeOut(ctx: EngineContext, lease: Lease, gate: Gate): Promise<BluegreenError> {
  const { journal, plan } = ctx
  const { release, config } = gate
  const reason = `approval timed out: nobody approved ${release.version} within ${config.timeout} (waiting since ${gate.since})`
  const traffic = await ctx.lb.traffic()
  const moved = traffic.weights[release.to] > 0
  const acts = moved ? 'rollback' : config.onTimeout
  const note =
    moved && config.onTimeout === 'abandon'
      ? `; onTimeout abandon acts as rollback: traffic had reached ${release.to} (${describeTraffic(traffic)})`
      : ''
  if (note) ctx.emit({ type: 'warning', message: note.slice(2) })
  const failedStep = { index: gate.index, kind: 'approve' }
  const ms = Date.now() - Date.parse(gate.since!)
  await journal.stepFinished(release.id, gate.index, 'failed', ms, reason)
  const timeoutEntry: Omit<AuditEntry, 'at'> = {
    app: plan.app,
    action: 'approval.timeout',
    actor: ctx.actor,
    releaseId: release.id,
    step: gate.index,
    detail: `${reason}; onTimeout ${config.onTimeout}${note}`,
  }
  await journal.audit(timeoutEntry)
  const exitAs = (exitCode: (typeof ExitCode)[keyof typeof ExitCode], message: string, hint: string) =>
    new BluegreenError({ code: 'APPROVAL_TIMED_OUT', exitCode, message, hint })
  if (!moved) {
    await journal.finishRelease(
      release.id,
      acts === 'rollback'
        ? { status: 'rolled_back', rollback: 'automatic', error: reason, failedStep, reachedUsers: false }
        : { status: 'failed', error: reason, failedStep, reachedUsers: false },
    )
    if (acts === 'rollback') await journal.contracts?.cancel({ app: plan.app, release: release.id })
    // Nothing was switched back, so no rollback event tells the webhooks: this does.
    notifyRelease(ctx, release, 'release.failed', { reason: `APPROVAL_TIMED_OUT: ${reason}` })
    return exitAs(
      ExitCode.failedBeforeSwitch,
      `${reason}; the release was closed (${acts}) and users never saw it: ${release.from} stays live`,
      `release it again when it can be approved in time: \`bluegreen release PLAN --version ${release.version}\``,
    )
  }
  await journal.finishRelease(release.id, { status: 'failed', error: reason, failedStep, reachedUsers: true })
  try {
    await rollbackTo(ctx, { to: release.from, reason, automatic: true, releaseId: release.id, lease })
  } catch (caught) {
    if (isBluegreenError(caught) && caught.code === 'LOCK_LOST') return caught
    return new BluegreenError({
      code: 'ROLLBACK_FAILED',
      exitCode: ExitCode.needsHuman,
      message: `${reason}; then the switch back to ${release.from} failed: ${isBluegreenError(caught) ? caught.message : String(caught)}`,
      hint: `production may still send traffic to ${release.to}; run \`bluegreen rollback --plan PLAN\` or switch the load balancer by hand`,
    })
  }
  return exitAs(
    ExitCode.rolledBack,
    `${reason}; traffic was switched back to ${release.from}${note}`,
    `production runs the previous version again; ${release.version} stays deployed on ${release.to} and is not a rollback target`,
  )
}
