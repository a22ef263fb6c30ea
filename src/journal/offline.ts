/**
 * The journal while the database is unreachable (rollback only): it knows nothing and keeps
 * nothing; the rollback writes its entry to the spool instead (see spool.ts), and decides from
 * the standings this machine last read (the spool's pool cache).
 */
import type {
  AuditEntry,
  Journal,
  Lease,
  LockHolder,
  PoolRecord,
  ReleaseRecord,
  RollbackRecord,
  StepRecord,
} from './journal.js'
import type { PoolName } from '../pools.js'

const noLease: Lease = { verify: async () => {} }

export class OfflineJournal implements Journal {
  readonly kind = 'postgres' as const
  withLock<T>(_app: string, _holder: LockHolder, fn: (lease: Lease) => Promise<T>): Promise<T> {
    return fn(noLease)
  }
  async forceUnlock(): Promise<LockHolder | undefined> {
    return undefined
  }
  async lockHolder(): Promise<LockHolder | undefined> {
    return undefined
  }
  async lastLockHolder(): Promise<LockHolder | undefined> {
    return undefined
  }
  async startRelease(): Promise<ReleaseRecord> {
    throw new Error('the journal is offline')
  }
  async unfinishedRelease(): Promise<ReleaseRecord | undefined> {
    return undefined
  }
  async finishRelease(): Promise<void> {}
  async setRunner(): Promise<void> {}
  async releases(): Promise<ReleaseRecord[]> {
    return []
  }
  async release(): Promise<ReleaseRecord | undefined> {
    return undefined
  }
  async stepStarted(): Promise<void> {}
  async stepFinished(): Promise<void> {}
  async steps(): Promise<StepRecord[]> {
    return []
  }
  async setPools(): Promise<void> {}
  async pools(): Promise<Partial<Record<PoolName, PoolRecord>>> {
    return {}
  }
  async startRollback(): Promise<RollbackRecord> {
    throw new Error('the journal is offline')
  }
  async finishRollback(): Promise<void> {}
  async unfinishedRollbacks(): Promise<RollbackRecord[]> {
    return []
  }
  async rollbacks(): Promise<RollbackRecord[]> {
    return []
  }
  async audit(): Promise<void> {}
  async auditLog(): Promise<AuditEntry[]> {
    return []
  }
  async releaseAudit(): Promise<AuditEntry[]> {
    return []
  }
  async close(): Promise<void> {}
}
