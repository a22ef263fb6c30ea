/** `retire` gives up the standby pool as a rollback target; `unlock --force` clears a stale lock. Both audited. */
import { BluegreenError } from '../errors.js'
import { otherPool } from '../lb/types.js'
import { isProcessRunning } from '../process-alive.js'
import type { EngineContext } from './context.js'
import { currentHolderFor, holderStillRunning } from '../journal/holder.js'
import type { LockHolder } from '../journal/journal.js'
import { settleInterrupted } from './rollback.js'
import { rememberChanges } from '../journal/spool.js'
import { retiredRecord } from './standing.js'
import { sleep } from '../sleep.js'

export interface RetireResult {
  ok: true
  pool: string
  version?: string
  /** False when the pool was no rollback target anyway. */
  changed: boolean
  message?: string
}

export async function retire(
  ctx: EngineContext,
  options: {
    /** Asked once the standby pool is known, naming it; throws to refuse. */
    confirm?: (question: string) => Promise<void>
  } = {},
): Promise<RetireResult> {
  const { plan, journal, lb } = ctx
  return journal.withLock(plan.app, currentHolderFor(ctx), async () => {
    await settleInterrupted(ctx)
    const traffic = await lb.traffic()
    if (traffic.split) {
      throw new BluegreenError({
        code: 'SWITCH_FAILED',
        message: 'traffic is split between the pools; there is no single standby pool to retire',
        hint: 'finish the release (or roll it back) first',
      })
    }
    const pool = otherPool(traffic.live)
    const record = (await journal.pools(plan.app))[pool]
    if (record?.standing !== 'standby') {
      const message = `${pool} is not a rollback target (${record ? `${record.standing.replace('_', ' ')}${record.version ? `, ${record.version}` : ''}` : 'no record'}); nothing to retire`
      ctx.emit({ type: 'info', message })
      return { ok: true, pool, version: record?.version, changed: false, message }
    }
    const named = `${pool}${record.version ? ` (${record.version})` : ''}`
    await options.confirm?.(
      `${named} will no longer be a rollback target; contracts that need it may then run. Retire ${pool}?`,
    )
    const change = retiredRecord(record)
    await journal.setPools(plan.app, [change])
    rememberChanges(plan.app, [change])
    await journal.audit({
      app: plan.app,
      action: 'retire',
      actor: ctx.actor,
      detail: `${pool}${record.version ? ` (${record.version})` : ''} is no longer a rollback target`,
    })
    return { ok: true, pool, version: record.version, changed: true }
  })
}

export async function unlock(
  ctx: EngineContext,
  options: { kill: boolean } = { kill: false },
): Promise<{ ok: true; cleared: LockHolder | undefined; killed?: number }> {
  const holder =
    (await ctx.journal.lockHolder(ctx.plan.app)) ?? (await ctx.journal.lastLockHolder(ctx.plan.app))
  let killed: number | undefined
  // A live holder on this host is a release at work, not a stale lock: clearing it would let a
  // second command act beside it. --kill stops it first (it stops at its next safe point).
  if (holder && holderStillRunning(holder, currentHolderFor(ctx))) {
    if (!options.kill) {
      throw new BluegreenError({
        code: 'LOCKED',
        message: `the lock of ${ctx.plan.app} is held by a running process: ${holder.holder} (pid ${holder.pid} on ${holder.host}, \`${holder.command}\`) since ${holder.since}`,
        hint: `let it finish, or stop it and clear its lock with \`bluegreen unlock PLAN --force --kill\``,
      })
    }
    process.kill(holder.pid, 'SIGTERM')
    // A stopped (hung, SIGSTOPped) holder must run to handle SIGTERM.
    process.kill(holder.pid, 'SIGCONT')
    killed = holder.pid
    const deadline = Date.now() + 10_000
    while (isProcessRunning(holder.pid) && Date.now() < deadline) await sleep(100)
    if (isProcessRunning(holder.pid)) process.kill(holder.pid, 'SIGKILL')
  }
  // A holder stopped by --kill may have released its lock itself on the way out.
  const cleared = (await ctx.journal.forceUnlock(ctx.plan.app)) ?? (killed ? holder : undefined)
  await ctx.journal.audit({
    app: ctx.plan.app,
    action: 'unlock.force',
    actor: ctx.actor,
    detail: cleared
      ? `cleared the lock of ${cleared.holder} (pid ${cleared.pid} on ${cleared.host}, since ${cleared.since})${killed ? `, after stopping pid ${killed}` : ''}`
      : 'no lock was held',
  })
  return { ok: true, cleared, killed }
}
