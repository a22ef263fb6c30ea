/**
 * Rollback means "point at the recorded known-good pool", not a toggle: read the live pool from
 * the load balancer and the pools' standing from the journal, decide (decideRollback), check
 * that the target is healthy and still fits the schema, record the intent, switch, journal it,
 * and confirm that production answers from it.
 *
 * It needs nothing but the load balancer: the journal gets a bounded time (journalBudgetMs,
 * 1 s by default) before the rollback goes on without it, spooling its records locally.
 */
import { randomUUID } from 'node:crypto'
import { BluegreenError, ExitCode, isBluegreenError } from '../errors.js'
import { describeTarget } from '../lb/pool-health.js'
import {
  describeTraffic,
  otherPool,
  poolHealth,
  type PoolName,
  type Target,
  type Traffic,
} from '../lb/types.js'
import { appliedContractsAfter } from '../phases/contract-run.js'
import { planSteps } from '../phases/index.js'
import type { EngineContext } from './context.js'
import { failpoint } from '../failpoint.js'
import { currentHolderFor } from '../journal/holder.js'
import type { Journal, Lease, ReleaseRecord } from '../journal/journal.js'
import { decideRollback, isKnownGood, rolledBack, type Pools, type RollbackDecision } from './standing.js'
import {
  readSpool,
  rememberChanges,
  rememberedPools,
  rememberPools,
  spoolDone,
  spoolIntent,
  spoolPath,
  takeSpool,
  type SpooledRollback,
} from '../journal/spool.js'

export interface RollbackResult {
  ok: true
  /** switched: traffic moved (or a rollback cut short was completed); none: nothing to do; closed: an unfinished release that never reached users was closed. */
  action: 'switched' | 'none' | 'closed'
  from?: PoolName
  /** The pool live afterwards. */
  to: PoolName
  version?: string
  ms: number
  changed: boolean
  journaled: boolean
  message?: string
}

export interface RollbackOptions {
  /** Switch to the other pool whatever its standing, and skip the health and schema checks. */
  force: boolean
  /** Asked once the target is known and before anything is written; throws to cancel. */
  confirm?: (question: string) => Promise<void>
  /** How long the journal may take before the rollback goes on without it (default 1 s). */
  journalBudgetMs?: number
}

export const defaultJournalBudgetMs = 1000

/** `bluegreen rollback`: takes the release lock when the journal can, then decides and switches. */
export async function rollback(ctx: EngineContext, options: RollbackOptions): Promise<RollbackResult> {
  try {
    if (ctx.journalOffline) return await offlineRollback(ctx, options)
    try {
      // A release that lost its lock may still run: it is fenced (it stops at its next check),
      // and the on-call engineer's rollback must not wait for it.
      // The load balancer is read while the lock is taken (or was, while the journal connected):
      // no command that could write it holds the lock once we have it, unless we waited for it
      // (--wait-lock), and then it is read again.
      const early = trafficRead(ctx)
      // And the health of the pool it will most likely switch to, as soon as the read tells which.
      const health = options.force ? undefined : healthAhead(ctx, early.read)
      return await ctx.journal.withLock(
        ctx.plan.app,
        currentHolderFor(ctx),
        (lease) =>
          Date.now() - early.at < 500
            ? onlineRollback(ctx, lease, { ...options, health }, early.read)
            : onlineRollback(ctx, lease, options, undefined),
        { besideLostHolder: true },
      )
    } catch (error) {
      // The database answered the connection but not in time for the decision: go on without it.
      if (!(error instanceof JournalTooSlow)) throw error
      ctx.emit({ type: 'warning', message: `${error.message}; continuing without the journal` })
      return await offlineRollback({ ...ctx, journalOffline: true }, options)
    }
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

class JournalTooSlow extends Error {}

/**
 * The traffic read the command started ahead (EngineContext.trafficAhead) while fresh (under
 * 500 ms old: not after a slow journal connection or a wait for the lock), or a new one.
 */
export function trafficRead(ctx: EngineContext): { read: Promise<Traffic>; at: number } {
  const ahead = ctx.trafficAhead
  if (ahead && Date.now() - ahead.at < 500) return ahead
  const read = ctx.lb.traffic()
  read.catch(() => {})
  return { read, at: Date.now() }
}

/** The targets of a pool, as read for the preflight: the one read ahead when it is that pool. */
type PoolTargets = (pool: PoolName) => Promise<Target[]>

/**
 * Reads the standby pool's targets while the journal is read: the pool the load balancer does not
 * send traffic to, the rollback's target in every ordinary case. Another pool reads afresh.
 */
function healthAhead(ctx: EngineContext, traffic: Promise<Traffic>): PoolTargets {
  const ahead = traffic.then((t) => {
    const pool = otherPool(t.live)
    return { pool, targets: ctx.lb.targets(pool) }
  })
  ahead.then(({ targets }) => targets.catch(() => {})).catch(() => {})
  return async (pool) => {
    const read = await ahead.catch(() => undefined)
    return read?.pool === pool ? read.targets : ctx.lb.targets(pool)
  }
}

/** Rejects with JournalTooSlow when the journal takes longer than the budget. */
function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    work.finally(() => clearTimeout(timer)),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new JournalTooSlow(`the journal did not answer within ${ms} ms`)), ms)
    }),
  ])
}

interface Facts {
  pools: Pools
  unfinished?: ReleaseRecord
  releases: Map<string, ReleaseRecord>
}

/** What the decision needs from the journal, read at once. */
export async function readFacts(journal: Journal, app: string): Promise<Facts> {
  const [pools, unfinished, recent] = await Promise.all([
    journal.pools(app),
    journal.unfinishedRelease(app),
    journal.releases(app, 20),
  ])
  const releases = new Map(recent.map((r) => [r.id, r]))
  await Promise.all(
    Object.values(pools).map(async (p) => {
      if (p?.releaseId && !releases.has(p.releaseId)) {
        const found = await journal.release(p.releaseId)
        if (found) releases.set(found.id, found)
      }
    }),
  )
  rememberPools(app, pools)
  return { pools, unfinished, releases }
}

async function onlineRollback(
  ctx: EngineContext,
  lease: Lease,
  options: RollbackOptions & { health?: PoolTargets },
  early: Promise<Traffic> | undefined,
): Promise<RollbackResult> {
  const { lb, journal, plan } = ctx
  const budget = options.journalBudgetMs ?? defaultJournalBudgetMs
  // Independent reads, at once: every millisecond here is production on the broken pool.
  const [traffic, facts] = await Promise.all([
    early ?? lb.traffic(),
    within(
      budget,
      (async () => {
        await settleInterrupted(ctx)
        return readFacts(journal, plan.app)
      })(),
    ),
  ])
  const decision = decideRollback({ traffic, ...facts, force: options.force })
  return act(ctx, decision, {
    ...options,
    lease,
    pools: facts.pools,
    releases: facts.releases,
    journaled: true,
  })
}

async function offlineRollback(ctx: EngineContext, options: RollbackOptions): Promise<RollbackResult> {
  const { plan } = ctx
  const traffic = await trafficRead(ctx).read
  // A rollback cut short on this machine: complete it instead of deciding again.
  const open = readSpool(plan.app)
    .filter((e) => !e.done)
    .at(-1)?.rollback
  if (open) {
    if (!traffic.split && traffic.live === open.to) {
      spoolDone(plan.app, open.id, 0)
      rememberChanges(plan.app, rolledBack(rememberedPools(plan.app)?.pools ?? {}, open.from, open.to))
      return {
        ok: true,
        action: 'switched',
        from: open.from,
        to: open.to,
        version: open.version,
        ms: 0,
        changed: false,
        journaled: false,
        message: `completed the rollback to ${open.to} that was interrupted after its switch (recorded in ${spoolPath(plan.app)})`,
      }
    }
    return act(
      ctx,
      { action: 'switch', from: open.from, to: open.to, undoes: open.releaseId, warnings: [] },
      { ...options, pools: rememberedPools(plan.app)?.pools ?? {}, releases: new Map(), journaled: false },
    )
  }
  const cached = rememberedPools(plan.app)
  let decision: RollbackDecision
  if (cached) {
    decision = decideRollback({ traffic, pools: cached.pools, releases: new Map(), force: options.force })
    ctx.emit({
      type: 'warning',
      message: `the journal is unreachable: deciding from the pools' standing as this machine last read it (${cached.at})`,
    })
  } else {
    const to = otherPool(traffic.live)
    decision = {
      action: 'switch',
      from: traffic.live,
      to,
      warnings: [
        `the journal is unreachable and this machine has no record of the pools' standing: cannot check that ${to} holds a known-good version`,
      ],
    }
  }
  return act(ctx, decision, { ...options, pools: cached?.pools ?? {}, releases: new Map(), journaled: false })
}

async function act(
  ctx: EngineContext,
  decision: RollbackDecision,
  options: RollbackOptions & {
    health?: PoolTargets
    lease?: Lease
    pools: Pools
    releases: Map<string, ReleaseRecord>
    journaled: boolean
  },
): Promise<RollbackResult> {
  const { plan, journal } = ctx
  switch (decision.action) {
    case 'refuse':
      throw new BluegreenError({
        code: 'NO_ROLLBACK_TARGET',
        message: decision.message,
        details: decision.details,
        hint: 'fix forward with a new release (`bluegreen release PLAN --version V`); `bluegreen rollback --force` switches to the other pool anyway',
      })
    case 'none':
      ctx.emit({ type: 'info', message: decision.message })
      return unchanged('none', decision.live, decision.message, options)
    case 'close': {
      const release = decision.release
      await journal.finishRelease(release.id, {
        status: 'rolled_back',
        rollback: 'manual',
        reachedUsers: false,
        error: 'closed by `bluegreen rollback` before it reached users',
      })
      await journal.contracts?.cancel({ app: plan.app, release: release.id })
      await journal.audit({
        app: plan.app,
        action: 'rollback',
        actor: ctx.actor,
        detail: `closed release ${release.version}: it never reached users; ${decision.live} stays live`,
      })
      ctx.emit({ type: 'info', message: decision.message })
      return unchanged('closed', decision.live, decision.message, { ...options, journaled: true })
    }
    case 'switch':
      break
  }
  for (const message of decision.warnings) ctx.emit({ type: 'warning', message })
  if (!options.force) await preflight(ctx, decision.to, options.pools, options.health)
  const name = (pool: PoolName) =>
    `${pool}${options.pools[pool]?.version ? ` (${options.pools[pool]?.version})` : ''}`
  await options.confirm?.(`Switch ${plan.app} from ${name(decision.from)} to ${name(decision.to)}?`)
  return rollbackTo(ctx, {
    to: decision.to,
    reason: options.force ? 'requested (--force)' : 'requested',
    automatic: false,
    forced: options.force,
    releaseId: decision.undoes,
    lease: options.lease,
    // Read under the lock this rollback holds: no need to read them again before the switch.
    ...(options.journaled ? { pools: options.pools } : {}),
  })
}

/** A rollback that switched nothing: production stays on `live`. */
function unchanged(
  action: 'none' | 'closed',
  live: PoolName,
  message: string,
  options: { pools: Pools; journaled: boolean },
): RollbackResult {
  const version = options.pools[live]?.version
  return { ok: true, action, to: live, version, ms: 0, changed: false, journaled: options.journaled, message }
}

async function preflight(
  ctx: EngineContext,
  target: PoolName,
  pools: Pools,
  health: PoolTargets = (pool) => ctx.lb.targets(pool),
): Promise<void> {
  // The schema check's read runs beside the health read; the health's verdict is told first.
  const pool = pools[target]
  const applying = ctx.journalOffline ? undefined : appliedContractsAfter(ctx, pool?.releaseSeq ?? 0)
  applying?.catch(() => {})
  const targets = await health(target)
  const { healthy, sick } = poolHealth(targets)
  if (!healthy) {
    throw new BluegreenError({
      code: 'ROLLBACK_UNSAFE',
      message: `the standby pool ${target} is not healthy, so a rollback would send users to a broken pool`,
      details: targets.length === 0 ? ['it has no targets'] : sick.map(describeTarget),
      hint: `bring ${target} back up (redeploy the previous version to it), or add --force if you are sure`,
    })
  }
  if (!applying) {
    ctx.emit({
      type: 'warning',
      message:
        'the database is unreachable: the schema compatibility of the standby pool could not be checked',
    })
    return
  }
  const applied = await applying
  if (applied.length > 0) {
    throw new BluegreenError({
      code: 'ROLLBACK_UNSAFE',
      message: `the standby pool ${target} runs ${pool?.version ?? 'an older version'}, but contract migrations that removed what it needs have run`,
      details: applied.map((c) => `${c.version}: ${c.files.join(', ')}`),
      hint: 'roll forward instead: release a fixed version',
    })
  }
}

export interface RollbackToOptions {
  to: PoolName
  reason: string
  automatic: boolean
  forced?: boolean
  /** The release this undoes (its outcome becomes "rolled back"). */
  releaseId?: string
  /** The release lock, verified right before the load balancer is written. */
  lease?: Lease
  /** The pools' standing, when the caller read it from the journal under that lock. */
  pools?: Pools
}

/**
 * Records the intent, switches all traffic to `to`, journals it (or spools it), and confirms
 * that production answers from it. Shared by `bluegreen rollback` and the automatic rollback.
 */
export async function rollbackTo(ctx: EngineContext, options: RollbackToOptions): Promise<RollbackResult> {
  const { lb, journal, plan, emit } = ctx
  const started = Date.now()
  const from = otherPool(options.to)
  emit({ type: 'rollback.start', from, to: options.to, reason: options.reason, automatic: options.automatic })
  const pools: Pools = ctx.journalOffline
    ? (rememberedPools(plan.app)?.pools ?? {})
    : (options.pools ?? (await journal.pools(plan.app).catch(() => ({}))))
  const version = pools[options.to]?.version
  const intent: Omit<SpooledRollback, 'id'> = {
    from,
    to: options.to,
    version,
    reason: options.reason,
    automatic: options.automatic,
    forced: options.forced ?? false,
    actor: ctx.actor,
    startedAt: new Date(started).toISOString(),
    releaseId: options.releaseId,
  }
  // The intent exists before the load balancer is touched: a crash after the switch leaves a
  // record that the next command completes.
  let journalId: string | undefined
  let spoolId: string | undefined
  if (!ctx.journalOffline) {
    journalId = await journal
      .startRollback({ app: plan.app, ...intent })
      .then((r) => r.id)
      .catch(() => undefined)
  }
  if (!journalId) {
    spoolId = randomUUID()
    spoolIntent(plan.app, { ...intent, id: spoolId })
  }
  await options.lease?.verify()
  // Every client moves, sticky ones too: the adapter breaks group stickiness in the same write.
  const result = await lb.shift(options.to, 100, { stickyClients: 'move' })
  failpoint('rollback:switched')
  emit({ type: 'switch', from, to: options.to, weights: result.after.weights, changed: result.changed })
  // Strictly after the switch, and without waiting: telling people never delays a rollback.
  ctx.notifier?.notifyInBackground({
    event: 'rollback',
    app: plan.app,
    at: new Date().toISOString(),
    version,
    fromVersion: pools[from]?.version,
    pool: options.to,
    fromPool: from,
    reason: options.reason,
    automatic: options.automatic,
    by: ctx.actor,
    ...(options.releaseId ? { releaseId: options.releaseId } : {}),
  })
  for (const note of result.notes ?? []) emit({ type: 'info', message: note })
  if (!result.changed)
    emit({
      type: 'info',
      message: `${options.to} was already live (${describeTraffic(result.before)}); nothing to switch`,
    })
  const ms = Date.now() - started

  let journaled = journalId !== undefined
  if (journalId) {
    try {
      await completeRollback(journal, plan.app, { ...intent, id: journalId, ms })
    } catch (error) {
      // Kept in the spool like an offline rollback, so the journal catches up later.
      journaled = false
      spoolId = randomUUID()
      spoolIntent(plan.app, { ...intent, id: spoolId })
      emit({
        type: 'warning',
        message: `the rollback is done, but the journal could not be written (${isBluegreenError(error) ? error.message : String(error)}); kept in ${spoolPath(plan.app)} for the next command that reaches the database`,
      })
    }
  }
  if (spoolId) {
    spoolDone(plan.app, spoolId, ms)
    rememberChanges(plan.app, rolledBack(pools, from, options.to))
    if (ctx.journalOffline)
      emit({
        type: 'warning',
        message: `the database is unreachable: the rollback was recorded in ${spoolPath(plan.app)} and will be written to the journal by the next command that reaches it`,
      })
  }
  // Journaled before the confirmation: the switch happened, whatever production answers now.
  // Only a known-good pool is known to run its recorded version; a forced switch to a candidate
  // (whose deploy may have failed half-way) is confirmed by healthy answers alone.
  await confirmProduction(ctx, options.to, isKnownGood(pools[options.to]) ? version : undefined)
  const total = Date.now() - started
  emit({ type: 'rollback.done', from, to: options.to, ms: total })
  return {
    ok: true,
    action: 'switched',
    from,
    to: options.to,
    version,
    ms: total,
    changed: result.changed,
    journaled,
  }
}

/**
 * The journal side of a rollback that switched: standings, the undone release's outcome, its
 * pending contract cancelled, then the rollback finished with its audit entry. Idempotent, so
 * a record cut short by a crash can be completed by the next command.
 */
async function completeRollback(
  journal: Journal,
  app: string,
  rollback: Omit<SpooledRollback, 'id'> & { id: string; ms?: number; finishedAt?: string },
): Promise<void> {
  const pools = await journal.pools(app)
  const changes = rolledBack(pools, rollback.from, rollback.to)
  await journal.setPools(app, changes)
  rememberChanges(app, changes)
  const undone = rollback.releaseId ? await journal.release(rollback.releaseId) : undefined
  if (undone && undone.status !== 'rolled_back') {
    await journal.finishRelease(undone.id, {
      status: 'rolled_back',
      rollback: rollback.automatic ? 'automatic' : 'manual',
      error: undone.error ?? rollback.reason,
      failedStep: undone.failedStep,
      reachedUsers: true,
    })
    await journal.contracts?.cancel({ app, release: undone.id })
  }
  await journal.finishRollback(
    rollback.id,
    { ms: rollback.ms, finishedAt: rollback.finishedAt },
    {
      app,
      at: rollback.finishedAt,
      action: rollback.automatic ? 'rollback.automatic' : 'rollback',
      actor: rollback.actor,
      detail: `${rollback.from} → ${rollback.to}${rollback.version ? ` (${rollback.version})` : ''}${rollback.forced ? ', forced' : ''}${rollback.ms === undefined ? '' : `, load balancer switched in ${rollback.ms} ms`}: ${rollback.reason}`,
    },
  )
}

/**
 * Before any command decides: rollbacks that were cut short (a kill between the intent and
 * the record) are completed when the load balancer shows they switched, or closed as never
 * switched; then rollbacks spooled while the database was down are written. Both ways, the
 * journal ends up saying what the load balancer did.
 */
export async function settleInterrupted(
  ctx: Pick<EngineContext, 'journal' | 'journalOffline' | 'plan' | 'emit' | 'lb'>,
): Promise<void> {
  if (ctx.journalOffline) return
  const { journal, plan, emit } = ctx
  const open = await journal.unfinishedRollbacks(plan.app)
  for (const rollback of open) await settleOne(ctx, rollback, undefined)
  const spool = takeSpool(plan.app)
  if (!spool) return
  try {
    for (const { rollback, done } of spool.entries) {
      const recorded = await journal.startRollback({ app: plan.app, ...rollback })
      await settleOne(ctx, { ...rollback, id: recorded.id }, done)
    }
  } catch (error) {
    spool.restore()
    throw error
  }
  spool.commit()
  if (spool.entries.length > 0)
    emit({
      type: 'info',
      message: `wrote ${spool.entries.length} rollback${spool.entries.length === 1 ? '' : 's'} kept while the database was unreachable to the journal`,
    })
}

async function settleOne(
  ctx: Pick<EngineContext, 'journal' | 'plan' | 'emit' | 'lb'>,
  rollback: Omit<SpooledRollback, 'id'> & { id: string },
  done: { ms: number; at: string } | undefined,
): Promise<void> {
  const { journal, plan, emit } = ctx
  if (done) return completeRollback(journal, plan.app, { ...rollback, ms: done.ms, finishedAt: done.at })
  const traffic = await ctx.lb.traffic()
  if (!traffic.split && traffic.live === rollback.to) {
    await completeRollback(journal, plan.app, rollback)
    emit({
      type: 'info',
      message: `completed the record of the rollback to ${rollback.to} started at ${rollback.startedAt}: it had switched before it was interrupted`,
    })
    return
  }
  await journal.finishRollback(
    rollback.id,
    { abandoned: true },
    {
      app: plan.app,
      action: 'rollback.abandoned',
      actor: rollback.actor,
      detail: `the rollback to ${rollback.to} started at ${rollback.startedAt} was interrupted before it switched (${describeTraffic(traffic)})`,
    },
  )
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
  // Steps that can prove it (verify: the production URL answers from `to`) do so.
  for (const { definition, config } of planSteps(ctx.plan)) {
    await definition.confirmRollback?.(config, {
      plan: ctx.plan,
      planDir: ctx.planDir,
      to,
      version,
      signal: ctx.signal,
    })
  }
}
