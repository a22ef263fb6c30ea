/**
 * `status` and `history`: the two pools as the load balancer sees them (live, weight, health),
 * what the journal knows of them (version, standby window), pending contracts, the last release.
 */
import { holderIsGone } from '../journal/holder.js'
import { pools as poolNames, type PoolName, type Target, type Traffic } from '../lb/types.js'
import type { EngineContext } from './context.js'
import type {
  AuditEntry,
  LockHolder,
  ReleaseRecord,
  RollbackRecord,
  Standing,
  StepRecord,
} from '../journal/journal.js'
import { readFacts, settleInterrupted, trafficRead } from './rollback.js'
import { expireGate, waitingGate } from './approve.js'
import { decideRollback, describePool } from './standing.js'
import { rememberedPools } from '../journal/spool.js'
import { contractStandings, type ContractStanding, type ContractState } from '../phases/contract-run.js'

/** A pending contract as `status` and `contract --check` report it. */
export interface PendingContractStatus {
  release: string
  version: string
  files: string[]
  notBefore: string
  /** waiting, due or overdue (src/phases/contract-run.ts classifyContract). */
  state: ContractState
  /** How long it has been pending, ms. */
  ageMs: number
  /** waiting: what it waits for. */
  waitingFor?: string
  /** due, overdue: since when, and for how long, ms. */
  dueSince?: string
  dueMs?: number
}

export function pendingContractStatus(standing: ContractStanding): PendingContractStatus {
  const { pending } = standing
  return {
    release: pending.release,
    version: pending.version,
    files: pending.files.map((f) => f.file),
    notBefore: pending.notBefore.toISOString(),
    state: standing.state,
    ageMs: standing.ageMs,
    ...(standing.state === 'waiting'
      ? { waitingFor: standing.reason }
      : { dueSince: standing.dueSince.toISOString(), dueMs: standing.dueMs }),
  }
}

export interface PoolStatus {
  pool: PoolName
  /** Where traffic goes, as the load balancer says. */
  role: 'live' | 'split' | 'idle'
  weight: number
  /** What the journal says it holds (undefined: no record). */
  standing?: Standing
  version?: string
  releaseId?: string
  since?: string
  /** Standby only: the end of its window, and whether it has passed. */
  until?: string
  expired?: boolean
  /** Whether a plain `bluegreen rollback` would switch to it now. */
  rollbackTarget: boolean
  /** The standing in words: "candidate: runs 5.0.0-bad, which failed smoke at 12:03 UTC". */
  words: string
  targets: Target[]
  healthy: number
}

export interface RunningRelease {
  release: ReleaseRecord
  /** running: its holder has the lock; interrupted: nobody does; awaiting approval: stopped at an approve step. */
  state: 'running' | 'interrupted' | 'awaiting approval'
  holder?: LockHolder
  /** The step it is at (or stopped at), 1-based for people. */
  step?: { index: number; kind: string; of: number; status: StepRecord['status'] }
  /** At an approve step: since when it waits, when onTimeout acts (ISO), and what it does then. */
  approval?: { since: string; deadline: string; onTimeout: 'rollback' | 'abandon'; approvedBy?: string }
}

export interface StatusReport {
  app: string
  loadBalancer: string
  traffic: Traffic
  pools: PoolStatus[]
  pendingContracts: PendingContractStatus[]
  /** Sync triggers installed and not yet dropped by their release's contract. */
  activeSyncs?: { table: string; trigger: string; version: string; releaseSeq: number; installedAt: string }[]
  lastRelease?: ReleaseRecord
  unfinished?: RunningRelease
  /** Where the journal and the load balancer disagree, in words. */
  disagreements: string[]
  journal: 'postgres' | 'file' | 'offline'
}

export async function status(ctx: EngineContext): Promise<StatusReport> {
  const { lb, journal, plan } = ctx
  // The load balancer's answers do not depend on the journal's: asked at once, side by side (the
  // traffic, when the command read it ahead while the journal was connecting, from that read).
  const readLoadBalancer = (traffic = lb.traffic()) =>
    Promise.all([traffic, Promise.all(poolNames.map((pool) => lb.targets(pool).catch(() => [])))])
  let reading = readLoadBalancer(trafficRead(ctx).read)
  // Until it is awaited below, a failure is not unhandled (it is thrown there).
  reading.catch(() => {})
  // Writing what a crash or an outage left is safe without the lock: each entry is written once.
  await settleInterrupted(ctx).catch((error: Error) =>
    ctx.emit({ type: 'warning', message: `could not settle interrupted rollbacks: ${error.message}` }),
  )
  // A gate whose time is up acts now (its onTimeout), as on any command that sees it.
  await expireGate(ctx).then(
    (checked) => {
      if (checked.action !== 'timed out') return
      ctx.emit({ type: 'warning', message: checked.message })
      // Its onTimeout may have switched traffic back: what the load balancer said before is old.
      reading = readLoadBalancer()
    },
    (error: Error) =>
      ctx.emit({ type: 'warning', message: `could not apply an expired approval timeout: ${error.message}` }),
  )
  const [[traffic, targetsOf], facts, holder] = await Promise.all([
    reading,
    ctx.journalOffline
      ? Promise.resolve({
          pools: rememberedPools(plan.app)?.pools ?? {},
          unfinished: undefined,
          releases: new Map<string, ReleaseRecord>(),
        })
      : readFacts(journal, plan.app),
    journal.lockHolder(plan.app),
  ])
  const now = new Date()
  const decision = decideRollback({ traffic, ...facts, force: false, now })
  const pools = poolNames.map((pool, i): PoolStatus => {
    const record = facts.pools[pool]
    const weight = traffic.weights[pool]
    const targets = targetsOf[i]
    return {
      pool,
      role: traffic.split ? 'split' : weight === 100 ? 'live' : 'idle',
      weight,
      standing: record?.standing,
      version: record?.version,
      releaseId: record?.releaseId,
      since: record?.since,
      until: record?.until,
      expired: record?.until ? Date.parse(record.until) <= now.getTime() : undefined,
      rollbackTarget: decision.action === 'switch' && decision.to === pool,
      words: describePool(pool, record, facts.releases, now),
      targets,
      healthy: targets.filter((t) => t.health === 'healthy').length,
    }
  })
  const disagreements: string[] = traffic.note ? [traffic.note] : []
  for (const pool of pools) {
    const record = facts.pools[pool.pool]
    if (pool.weight === 100 && record && record.standing !== 'live' && !facts.unfinished)
      disagreements.push(
        `the load balancer sends all traffic to ${pool.pool}, but the journal has it as ${record.standing.replace('_', ' ')}${record.version ? ` (${record.version})` : ''}: switched by hand?`,
      )
    if (pool.weight === 0 && record?.standing === 'live' && !facts.unfinished)
      disagreements.push(
        `the journal has ${pool.pool} as live, but the load balancer sends it no traffic: switched by hand, or a rollback that was not recorded?`,
      )
  }
  let unfinished: RunningRelease | undefined
  if (facts.unfinished) {
    const steps = await journal.steps(facts.unfinished.id)
    const last = steps.at(-1)
    // Running only when the lock's holder is the process that runs this release (another
    // command may hold the lock a moment, and a holder killed a moment ago may still show in
    // pg_locks until the server notices).
    const runner = facts.unfinished.runner
    const alive = holder && runner?.pid === holder.pid && runner.host === holder.host && !holderIsGone(holder)
    const gate = alive ? undefined : await waitingGate(ctx, facts.unfinished, now)
    unfinished = {
      release: facts.unfinished,
      state: alive ? 'running' : gate && !gate.approved ? 'awaiting approval' : 'interrupted',
      ...(gate?.since && gate.deadline
        ? {
            approval: {
              since: gate.since,
              deadline: gate.deadline,
              onTimeout: gate.config.onTimeout,
              ...(gate.approved ? { approvedBy: gate.approved.actor } : {}),
            },
          }
        : {}),
      holder: alive ? holder : undefined,
      step: last && { index: last.index, kind: last.kind, of: plan.phases.length, status: last.status },
    }
  }
  const [lastRelease] = ctx.journalOffline ? [] : await journal.releases(plan.app, 1)
  let pendingContracts: StatusReport['pendingContracts'] = []
  const connection = journal.contracts?.connection
  const ledger = journal.contracts
  if (ledger) {
    pendingContracts = (await contractStandings(ctx, { traffic, pools: facts.pools })).map(
      pendingContractStatus,
    )
  }
  let activeSyncs: StatusReport['activeSyncs']
  if (connection) {
    const { activeSyncs: active } = await import('../db/sync.js')
    activeSyncs = (await active(connection, plan.app)).map((sync) => ({
      table: sync.table,
      trigger: sync.name,
      version: sync.version,
      releaseSeq: sync.releaseSeq,
      installedAt: sync.installedAt.toISOString(),
    }))
  }
  return {
    app: plan.app,
    loadBalancer: lb.describe(),
    traffic,
    pools,
    pendingContracts,
    ...(activeSyncs ? { activeSyncs } : {}),
    lastRelease,
    unfinished,
    disagreements,
    journal: ctx.journalOffline ? 'offline' : journal.kind,
  }
}

export interface HistoryReport {
  app: string
  releases: ReleaseRecord[]
  rollbacks: RollbackRecord[]
  events: AuditEntry[]
}

export async function history(ctx: EngineContext, limit = 20): Promise<HistoryReport> {
  await settleInterrupted(ctx)
  return {
    app: ctx.plan.app,
    releases: await ctx.journal.releases(ctx.plan.app, limit),
    rollbacks: await ctx.journal.rollbacks(ctx.plan.app, limit),
    events: await ctx.journal.auditLog(ctx.plan.app, limit * 3),
  }
}
