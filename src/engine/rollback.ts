/**
 * Rollback means "point at the recorded stable pool", not a script: read the live pool from
 * the load balancer, check that the standby pool is healthy and still fits the schema,
 * switch, confirm that production answers from it, and journal it. It needs nothing but the
 * load balancer: with the database down, the journal entry is spooled and written later.
 */
import { BluegreenError, ExitCode, isBluegreenError } from '../errors.js'
import { describeTarget } from '../lb/pool-health.js'
import { otherPool, type PoolName } from '../lb/types.js'
import { phaseOf, type PhaseConfig } from '../plan/schema.js'
import { verifyWith } from '../phases/verify.js'
import type { EngineContext } from './context.js'
import { currentHolderFor } from './holder.js'
import type { PoolRecord, ReleaseRecord } from './journal.js'
import { appliedContractsAfter } from './contract.js'
import { describeTraffic } from './release.js'
import { recordRollback, spoolPath, spoolRollback, type RollbackEntry } from './spool.js'

export interface RollbackResult {
  ok: true
  from: PoolName
  to: PoolName
  version?: string
  ms: number
  changed: boolean
  journaled: boolean
}

export interface RollbackOptions {
  /** Skip the health and schema preflight (the on-call engineer knows better). */
  force: boolean
}

/** `bluegreen rollback`: takes the release lock when the journal can, then switches back. */
export async function rollback(ctx: EngineContext, options: RollbackOptions): Promise<RollbackResult> {
  const run = () => rollbackLive(ctx, options)
  try {
    // With the database down there is no lock to take; the load balancer is all that matters now.
    if (ctx.journalOffline) return await run()
    return await ctx.journal.withLock(ctx.plan.app, currentHolderFor(ctx), run)
  } catch (error) {
    // A rollback that could not finish needs a human (exit 5), whatever failed underneath.
    if (isBluegreenError(error) && error.exitCode === ExitCode.failedBeforeSwitch) {
      throw new BluegreenError({
        ...error.toJSON(),
        code: 'ROLLBACK_FAILED',
        exitCode: ExitCode.needsHuman,
        cause: error,
      })
    }
    if (!isBluegreenError(error) || error.code !== 'LOCKED') throw error
    // A release in flight would fight a rollback for the load balancer: stop it first.
    throw new BluegreenError({
      code: 'LOCKED',
      message: error.message,
      hint: 'stop that release first (Ctrl-C in its terminal, or kill its pid: it stops at the next safe point), then roll back; if the process is gone, `bluegreen unlock PLAN --force` clears the lock',
    })
  }
}

async function rollbackLive(ctx: EngineContext, options: RollbackOptions): Promise<RollbackResult> {
  const { lb, journal, plan } = ctx
  // Independent reads, at once: every millisecond here is production on the broken pool.
  const [traffic, unfinished, latest] = await Promise.all([
    lb.traffic(),
    journal.unfinishedRelease(plan.app).catch(() => undefined),
    journal.releases(plan.app, 1).then(
      (releases) => releases[0],
      () => undefined,
    ),
  ])
  const last = unfinished ?? latest
  // During a stepped switch both pools are live; the release being undone says which was stable.
  const target: PoolName = traffic.split && last ? last.from : otherPool(traffic.live)
  if (!options.force) await preflight(ctx, target)
  return rollbackTo(ctx, {
    to: target,
    reason: 'requested',
    automatic: false,
    release: unfinished ?? (last && last.to !== target ? last : undefined),
  })
}

async function preflight(ctx: EngineContext, target: PoolName): Promise<void> {
  const { lb, journal, plan } = ctx
  // The journal is read while the load balancer answers; the health check still decides first.
  const recorded = ctx.journalOffline
    ? undefined
    : Promise.all([journal.standby(plan.app), journal.pools(plan.app)])
  recorded?.catch(() => {})
  const targets = await lb.targets(target)
  const sick = targets.filter((t) => t.health !== 'healthy')
  if (targets.length === 0 || sick.length > 0) {
    throw new BluegreenError({
      code: 'ROLLBACK_UNSAFE',
      message: `the standby pool ${target} is not healthy, so a rollback would send users to a broken pool`,
      details: targets.length === 0 ? ['it has no targets'] : sick.map(describeTarget),
      hint: `bring ${target} back up (redeploy the previous version to it), or add --force if you are sure`,
    })
  }
  if (!recorded) {
    ctx.emit({
      type: 'warning',
      message:
        'the database is unreachable: the schema compatibility of the standby pool could not be checked',
    })
    return
  }
  const [standby, pools] = await recorded
  if (standby?.pool === target && standby.retiredAt) {
    throw new BluegreenError({
      code: 'NO_STANDBY',
      message: `the standby pool ${target} was retired at ${standby.retiredAt}; it is no longer a rollback target`,
      hint: 'contract migrations may have run since; redeploy the previous version with a new release instead (or --force)',
    })
  }
  const pool = pools[target]
  const applied = await appliedContractsAfter(ctx, pool?.releaseSeq ?? 0)
  if (applied.length > 0) {
    throw new BluegreenError({
      code: 'ROLLBACK_UNSAFE',
      message: `the standby pool ${target} runs ${pool?.version ?? 'an older version'}, but contract migrations that removed what it needs have run`,
      details: applied.map((c) => `${c.version}: ${c.files.join(', ')}`),
      hint: 'roll forward instead: release a fixed version',
    })
  }
}

/** Switches all traffic to `to`, confirms production answers from it, and journals it. */
export async function rollbackTo(
  ctx: EngineContext,
  options: { to: PoolName; reason: string; automatic: boolean; release?: ReleaseRecord },
): Promise<RollbackResult> {
  const { lb, journal, plan, emit } = ctx
  const started = Date.now()
  const from = otherPool(options.to)
  emit({ type: 'rollback.start', from, to: options.to, reason: options.reason, automatic: options.automatic })
  const result = await lb.shift(options.to, 100)
  emit({ type: 'switch', from, to: options.to, weights: result.after.weights, changed: result.changed })
  if (!result.changed)
    emit({
      type: 'info',
      message: `${options.to} was already live (${describeTraffic(result.before)}); nothing to switch`,
    })

  const pools: Partial<Record<PoolName, PoolRecord>> = await journal.pools(plan.app).catch(() => ({}))
  const version = pools[options.to]?.version
  const ms = Date.now() - started

  const entry: RollbackEntry = {
    from,
    to: options.to,
    version,
    ms,
    reason: options.reason,
    automatic: options.automatic,
    at: new Date().toISOString(),
    releaseId: options.release?.id,
  }
  let journaled = !ctx.journalOffline
  if (ctx.journalOffline) {
    await spoolRollback(plan.app, ctx.actor, entry)
    emit({
      type: 'warning',
      message: `the database is unreachable: the rollback was recorded in ${spoolPath(plan.app)} and will be written to the journal by the next command that reaches it`,
    })
  } else {
    try {
      await recordRollback(journal, plan.app, ctx.actor, entry)
    } catch (error) {
      // Kept in the spool like an offline rollback, so the journal catches up later.
      journaled = false
      await spoolRollback(plan.app, ctx.actor, entry)
      emit({
        type: 'warning',
        message: `the rollback is done, but the journal could not be written (${isBluegreenError(error) ? error.message : String(error)}); kept in ${spoolPath(plan.app)} for the next command that reaches the database`,
      })
    }
  }
  // Journaled before the confirmation: the switch happened, whatever production answers now.
  await confirmProduction(ctx, options.to, version)
  const total = Date.now() - started
  emit({ type: 'rollback.done', from, to: options.to, ms: total })
  return { ok: true, from, to: options.to, version, ms: total, changed: result.changed, journaled }
}

/**
 * Proves that production answers from the pool we switched to. With a verify phase and a known
 * version: wait for the version marker; otherwise read the load balancer back.
 */
async function confirmProduction(
  ctx: EngineContext,
  to: PoolName,
  version: string | undefined,
): Promise<void> {
  const traffic = await ctx.lb.traffic()
  if (traffic.weights[to] !== 100) {
    throw new BluegreenError({
      code: 'ROLLBACK_FAILED',
      message: `the load balancer reports ${describeTraffic(traffic)} after switching to ${to}`,
      hint: 'check the load balancer by hand',
    })
  }
  const verify = ctx.plan.phases.map(phaseOf).find((p) => p.kind === 'verify')?.config as
    PhaseConfig<'verify'> | undefined
  if (!verify) return
  // With the standby's version known, wait for its marker; without it, for passing answers.
  // Either way the check ends as soon as the streak is seen, not after the whole bake time.
  const config: PhaseConfig<'verify'> = {
    ...verify,
    versionMarker: version ? verify.versionMarker : undefined,
  }
  const report = await verifyWith(
    config,
    ctx.planDir,
    { app: ctx.plan.app, version: version ?? '', pool: to },
    ctx.signal,
    true,
    () => {},
  )
  if (!report.ok) {
    throw new BluegreenError({
      code: 'ROLLBACK_FAILED',
      message: `switched to ${to}, but production does not answer from it: ${report.reason ?? 'verification failed'}`,
      hint: `check ${to}'s targets and the production URL ${verify.url}`,
    })
  }
}
