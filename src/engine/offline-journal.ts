/**
 * The journal while the database is unreachable (rollback only): it knows nothing and keeps
 * nothing; the rollback writes its entry to the spool instead (see spool.ts).
 */
import type {
  Journal,
  LockHolder,
  PoolRecord,
  ReleaseRecord,
  StandbyRecord,
  StepRecord,
  AuditEntry,
} from './journal.js'
import type { PoolName } from '../plan/schema.js'

export class OfflineJournal implements Journal {
  readonly kind = 'postgres' as const
  withLock<T>(_app: string, _holder: LockHolder, fn: () => Promise<T>): Promise<T> {
    return fn()
  }
  async forceUnlock(): Promise<LockHolder | undefined> {
    return undefined
  }
  async lockHolder(): Promise<LockHolder | undefined> {
    return undefined
  }
  async startRelease(): Promise<ReleaseRecord> {
    throw new Error('the journal is offline')
  }
  async unfinishedRelease(): Promise<ReleaseRecord | undefined> {
    return undefined
  }
  async finishRelease(): Promise<void> {}
  async releases(): Promise<ReleaseRecord[]> {
    return []
  }
  async stepStarted(): Promise<void> {}
  async stepFinished(): Promise<void> {}
  async steps(): Promise<StepRecord[]> {
    return []
  }
  async setPool(): Promise<void> {}
  async pools(): Promise<Partial<Record<PoolName, PoolRecord>>> {
    return {}
  }
  async setStandby(): Promise<void> {}
  async standby(): Promise<StandbyRecord | undefined> {
    return undefined
  }
  async audit(): Promise<void> {}
  async auditLog(): Promise<AuditEntry[]> {
    return []
  }
  async close(): Promise<void> {}
}
