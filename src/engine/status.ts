/**
 * `status` and `history`: the two pools as the load balancer sees them (live, weight, health),
 * what the journal knows of them (version, standby window), pending contracts, the last release.
 */
import { otherPool, pools as poolNames, type PoolName, type Target, type Traffic } from '../lb/types.js'
import type { EngineContext } from './context.js'
import type { AuditEntry, ReleaseRecord, StandbyRecord } from './journal.js'
import { flushSpool } from './spool.js'
import { journalConnection } from './contract.js'

export interface PoolStatus {
  pool: PoolName
  role: 'live' | 'standby' | 'split' | 'idle'
  weight: number
  version?: string
  targets: Target[]
  healthy: number
}

export interface StatusReport {
  app: string
  loadBalancer: string
  traffic: Traffic
  pools: PoolStatus[]
  standby?: StandbyRecord & { remainingMs: number }
  pendingContracts: { version: string; files: string[]; notBefore: string }[]
  lastRelease?: ReleaseRecord
  unfinished?: ReleaseRecord
  journal: 'postgres' | 'file' | 'offline'
}

export async function status(ctx: EngineContext): Promise<StatusReport> {
  const { lb, journal, plan } = ctx
  await flushSpool(ctx)
  const traffic = await lb.traffic()
  const journalPools = await journal.pools(plan.app)
  const standby = await journal.standby(plan.app)
  const pools = await Promise.all(
    poolNames.map(async (pool): Promise<PoolStatus> => {
      const targets = await lb.targets(pool).catch(() => [])
      const weight = traffic.weights[pool]
      const role = traffic.split
        ? 'split'
        : weight === 100
          ? 'live'
          : standby?.pool === pool && !standby.retiredAt
            ? 'standby'
            : 'idle'
      return {
        pool,
        role,
        weight,
        version: journalPools[pool]?.version,
        targets,
        healthy: targets.filter((t) => t.health === 'healthy').length,
      }
    }),
  )
  const [lastRelease] = await journal.releases(plan.app, 1)
  const unfinished = await journal.unfinishedRelease(plan.app)
  let pendingContracts: StatusReport['pendingContracts'] = []
  const connection = journalConnection(journal)
  if (connection) {
    const { pendingContracts: pending } = await import('../db/contract-ledger.js')
    pendingContracts = (await pending(connection, plan.app)).map((p) => ({
      version: p.version,
      files: p.files.map((f) => f.file),
      notBefore: p.notBefore.toISOString(),
    }))
  }
  const activeStandby =
    standby && standby.pool === otherPool(traffic.live) && !traffic.split ? standby : undefined
  return {
    app: plan.app,
    loadBalancer: lb.describe(),
    traffic,
    pools,
    standby: activeStandby && {
      ...activeStandby,
      remainingMs: Math.max(0, Date.parse(activeStandby.until) - Date.now()),
    },
    pendingContracts,
    lastRelease,
    unfinished,
    journal: ctx.journalOffline ? 'offline' : journal.kind,
  }
}

export interface HistoryReport {
  app: string
  releases: ReleaseRecord[]
  events: AuditEntry[]
}

export async function history(ctx: EngineContext, limit = 20): Promise<HistoryReport> {
  await flushSpool(ctx)
  return {
    app: ctx.plan.app,
    releases: await ctx.journal.releases(ctx.plan.app, limit),
    events: await ctx.journal.auditLog(ctx.plan.app, limit * 3),
  }
}
