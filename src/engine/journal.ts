/**
 * The journal records intent and history: releases, their steps, which version each pool
 * runs, the standby window and an append-only audit log. It never decides which pool is
 * live (the load balancer does). Two stores implement it: PostgreSQL (schema `bluegreen` in
 * the application database) and a JSON file for plans without a database.
 */
import { hostname } from 'node:os'
import type { PoolName } from '../plan/schema.js'

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

export interface PoolRecord {
  pool: PoolName
  version: string
  /** seq of the release that deployed it. */
  releaseSeq: number
  deployedAt: string
}

export interface StandbyRecord {
  pool: PoolName
  version?: string
  releaseSeq: number
  until: string
  retiredAt?: string
}

export interface AuditEntry {
  at: string
  app: string
  action: string
  actor: string
  detail: string
}

export interface LockHolder {
  holder: string
  pid: number
  host: string
  since: string
  command: string
}

export interface Journal {
  readonly kind: 'postgres' | 'file'
  /** Runs `fn` holding the app's release lock; throws LOCKED (exit 4) at once when another holds it. */
  withLock<T>(app: string, holder: LockHolder, fn: () => Promise<T>): Promise<T>
  /** Clears the lock (terminating a stale holder); returns who held it. */
  forceUnlock(app: string): Promise<LockHolder | undefined>
  lockHolder(app: string): Promise<LockHolder | undefined>

  startRelease(release: Omit<ReleaseRecord, 'id' | 'seq' | 'status' | 'startedAt'>): Promise<ReleaseRecord>
  unfinishedRelease(app: string): Promise<ReleaseRecord | undefined>
  finishRelease(id: string, status: Exclude<ReleaseStatus, 'running'>, error?: string): Promise<void>
  releases(app: string, limit: number): Promise<ReleaseRecord[]>

  stepStarted(releaseId: string, index: number, kind: string): Promise<void>
  stepFinished(
    releaseId: string,
    index: number,
    status: Exclude<StepStatus, 'started'>,
    ms: number,
    summary: string,
  ): Promise<void>
  steps(releaseId: string): Promise<StepRecord[]>

  setPool(app: string, record: PoolRecord): Promise<void>
  pools(app: string): Promise<Partial<Record<PoolName, PoolRecord>>>
  setStandby(app: string, record: StandbyRecord): Promise<void>
  standby(app: string): Promise<StandbyRecord | undefined>

  audit(entry: Omit<AuditEntry, 'at'> & { at?: string }): Promise<void>
  auditLog(app: string, limit: number): Promise<AuditEntry[]>

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
