/**
 * The journal records intent and history: releases and their outcomes, their steps, what each
 * pool runs and its standing, rollbacks (intent first), and an append-only audit log. It never
 * decides which pool gets traffic (the load balancer does); it is the only source of which pool
 * holds a version known to be good. Two stores implement it: PostgreSQL (schema `bluegreen` in
 * the application database) and a JSON file for plans without a database.
 */
import { hostname } from 'node:os'
import type { PoolName } from '../pools.js'
import type { ContractLedger } from './contract-ledger.js'

/** `running` is an unfinished release: running while its holder has the lock, interrupted otherwise. */
export type ReleaseStatus = 'running' | 'done' | 'failed' | 'rolled_back'
export type StepStatus = 'started' | 'done' | 'failed'

export interface ReleaseRecord {
  id: string
  /** Monotonic per app: orders releases for the contract safety rule. */
  seq: number
  app: string
  version: string
  planHash: string
  from: PoolName
  to: PoolName
  status: ReleaseStatus
  startedAt: string
  finishedAt?: string
  error?: string
  /** The step that failed (failed releases), or the step a rollback undid. */
  failedStep?: { index: number; kind: string }
  /** How a rolled-back release was undone. */
  rollback?: 'automatic' | 'manual'
  /** Whether traffic reached the release's pool before it ended (false: users never saw it). */
  reachedUsers?: boolean
  /** The process that runs it (or ran it last, on --resume): tells running from interrupted. */
  runner?: { pid: number; host: string }
}

export interface ReleaseOutcome {
  status: Exclude<ReleaseStatus, 'running'>
  error?: string
  failedStep?: { index: number; kind: string }
  rollback?: 'automatic' | 'manual'
  reachedUsers?: boolean
}

export interface StepRecord {
  releaseId: string
  index: number
  kind: string
  status: StepStatus
  startedAt: string
  finishedAt?: string
  ms?: number
  summary?: string
}

/**
 * A pool's standing (DESIGN.md): only `live` and `standby` hold a version known to be good, and
 * only a `standby` pool is a rollback target.
 */
export type Standing = 'live' | 'standby' | 'candidate' | 'rolled_back' | 'retired'
export const standings: readonly Standing[] = ['live', 'standby', 'candidate', 'rolled_back', 'retired']

/** What the journal knows of each pool (a pool never released to has no record). */
export type Pools = Partial<Record<PoolName, PoolRecord>>

/** Standings that hold a version known to be good. */
export function isKnownGood(record: PoolRecord | undefined): boolean {
  return record?.standing === 'live' || record?.standing === 'standby'
}

export interface PoolRecord {
  pool: PoolName
  /** Undefined when bluegreen did not release it and nobody said (`--live-version`). */
  version?: string
  /** seq of the release that deployed it (0: there before bluegreen's first release). */
  releaseSeq: number
  releaseId?: string
  standing: Standing
  /** When it took this standing. */
  since: string
  /** Standby only: the end of the plan's standby window (none: kept until retired or replaced). */
  until?: string
}

/** A rollback, recorded before the load balancer is touched and finished once journaled. */
export interface RollbackRecord {
  id: string
  app: string
  from: PoolName
  to: PoolName
  /** The release it undoes, if any. */
  releaseId?: string
  version?: string
  reason: string
  automatic: boolean
  forced: boolean
  actor: string
  startedAt: string
  /** Load-balancer time of the switch, ms. */
  ms?: number
  finishedAt?: string
  /** Set when a re-run found that the interrupted rollback never switched. */
  abandoned?: boolean
}

export interface AuditEntry {
  at: string
  app: string
  action: string
  actor: string
  detail: string
  /** The release it concerns (approvals, approval timeouts), and the step of that release. */
  releaseId?: string
  step?: number
}

export interface LockHolder {
  holder: string
  pid: number
  host: string
  since: string
  command: string
}

/** What a lock holder gets: a way to prove, before each step and load-balancer write, that it still holds it. */
export interface Lease {
  /** Throws LOCK_LOST (exit 4) when the lock is gone (its connection cut, or cleared by `unlock --force`). */
  verify(): Promise<void>
}

export interface LockOptions {
  /** Take the lock beside a holder that lost it but still runs (rollback: that holder is fenced). */
  besideLostHolder?: boolean
  /** How long to wait for a held lock (--wait-lock) before LOCKED; default 0: fail at once. */
  waitMs?: number
  /** Called while waiting, about every 250 ms, with who holds the lock now. */
  onWait?: (holder: LockHolder | undefined) => void
  /** Called when the lock is taken from a holder that died without releasing it (a stale lock). */
  onStaleLock?: (stale: LockHolder) => void
}

/** How often a waiting command tries the lock again. */
export const lockRetryMs = 250

export interface Journal {
  readonly kind: 'postgres' | 'file'
  /** The contract ledger, when the journal lives in the application's database. */
  readonly contracts?: ContractLedger
  /**
   * Runs `fn` holding the app's release lock; throws LOCKED (exit 4) at once when another holds
   * it, or when the last holder lost it but still runs on this host — unless `besideLostHolder`
   * (a rollback: that holder is fenced and stops at its next check).
   */
  withLock<T>(
    app: string,
    holder: LockHolder,
    fn: (lease: Lease) => Promise<T>,
    options?: LockOptions,
  ): Promise<T>
  /** Clears the lock (terminating a stale holder's session); returns who held it. */
  forceUnlock(app: string): Promise<LockHolder | undefined>
  lockHolder(app: string): Promise<LockHolder | undefined>
  /** The holder recorded last, even if its lock is gone (to tell a lost lock from a free one). */
  lastLockHolder(app: string): Promise<LockHolder | undefined>

  startRelease(release: Omit<ReleaseRecord, 'id' | 'seq' | 'status' | 'startedAt'>): Promise<ReleaseRecord>
  unfinishedRelease(app: string): Promise<ReleaseRecord | undefined>
  /** Records which process runs the release now (at its start, and on --resume). */
  setRunner(id: string, runner: { pid: number; host: string }): Promise<void>
  finishRelease(id: string, outcome: ReleaseOutcome): Promise<void>
  releases(app: string, limit: number): Promise<ReleaseRecord[]>
  release(id: string): Promise<ReleaseRecord | undefined>

  stepStarted(releaseId: string, index: number, kind: string): Promise<void>
  stepFinished(
    releaseId: string,
    index: number,
    status: Exclude<StepStatus, 'started'>,
    ms: number,
    summary: string,
  ): Promise<void>
  steps(releaseId: string): Promise<StepRecord[]>

  /** Writes the given pools' records together (one statement or one file write): never half of a change. */
  setPools(app: string, records: PoolRecord[]): Promise<void>
  pools(app: string): Promise<Partial<Record<PoolName, PoolRecord>>>

  startRollback(
    record: Omit<RollbackRecord, 'id' | 'startedAt'> & { startedAt?: string },
  ): Promise<RollbackRecord>
  /** Marks it finished (or abandoned) and writes its audit entry, at once; a second call does nothing. */
  finishRollback(
    id: string,
    result: { ms?: number; abandoned?: boolean; finishedAt?: string },
    audit: Omit<AuditEntry, 'at'> & { at?: string },
  ): Promise<void>
  unfinishedRollbacks(app: string): Promise<RollbackRecord[]>
  rollbacks(app: string, limit: number): Promise<RollbackRecord[]>

  audit(entry: Omit<AuditEntry, 'at'> & { at?: string }): Promise<void>
  auditLog(app: string, limit: number): Promise<AuditEntry[]>
  /** The audit entries recorded for a release (its approval gates), oldest first. */
  releaseAudit(releaseId: string): Promise<AuditEntry[]>

  close(): Promise<void>
}

export function currentHolder(command: string): LockHolder {
  return {
    holder: process.env.BLUEGREEN_ACTOR ?? process.env.USER ?? process.env.LOGNAME ?? 'unknown',
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    command,
  }
}
