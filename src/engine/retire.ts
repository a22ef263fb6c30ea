/** `retire` gives up the standby pool as a rollback target; `unlock --force` clears a stale lock. Both audited. */
import { BluegreenError } from '../errors.js'
import { otherPool } from '../lb/types.js'
import type { EngineContext } from './context.js'
import { currentHolderFor } from './holder.js'
import type { LockHolder, StandbyRecord } from './journal.js'
import { flushSpool } from './spool.js'

export async function retire(ctx: EngineContext): Promise<{ ok: true; pool: string; version?: string }> {
  const { plan, journal, lb } = ctx
  return journal.withLock(plan.app, currentHolderFor(ctx), async () => {
    await flushSpool(ctx)
    const traffic = await lb.traffic()
    if (traffic.split) {
      throw new BluegreenError({
        code: 'SWITCH_FAILED',
        message: 'traffic is split between the pools; there is no single standby pool to retire',
        hint: 'finish the release (or roll it back) first',
      })
    }
    const pool = otherPool(traffic.live)
    const previous = await journal.standby(plan.app)
    const version = (await journal.pools(plan.app))[pool]?.version
    const record: StandbyRecord = {
      pool,
      version,
      releaseSeq: previous?.pool === pool ? previous.releaseSeq : 0,
      until: new Date().toISOString(),
      retiredAt: new Date().toISOString(),
    }
    await journal.setStandby(plan.app, record)
    await journal.audit({
      app: plan.app,
      action: 'retire',
      actor: ctx.actor,
      detail: `${pool}${version ? ` (${version})` : ''} is no longer a rollback target`,
    })
    return { ok: true, pool, version }
  })
}

export async function unlock(ctx: EngineContext): Promise<{ ok: true; cleared: LockHolder | undefined }> {
  const cleared = await ctx.journal.forceUnlock(ctx.plan.app)
  await ctx.journal.audit({
    app: ctx.plan.app,
    action: 'unlock.force',
    actor: ctx.actor,
    detail: cleared
      ? `cleared the lock of ${cleared.holder} (pid ${cleared.pid} on ${cleared.host}, since ${cleared.since})`
      : 'no lock was held',
  })
  return { ok: true, cleared }
}
