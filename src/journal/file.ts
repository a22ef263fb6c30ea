/**
 * The journal for plans without a database: one JSON file, rewritten by atomic rename
 * (write a temp file, fsync, rename) so a crash never leaves it half-written, and a lock
 * file created with O_EXCL. A lock whose holder process is gone (same host) is stale and is
 * taken over with an audit entry, as PostgreSQL frees an advisory lock when its session dies.
 */
import { randomUUID } from 'node:crypto'
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { dirname } from 'node:path'
import { BluegreenError } from '../errors.js'
import type { PoolName } from '../pools.js'
import { holderIsGone, holderStillRunning } from './holder.js'
import type {
  AuditEntry,
  Journal,
  Lease,
  LockHolder,
  LockOptions,
  PoolRecord,
  ReleaseOutcome,
  ReleaseRecord,
  RollbackRecord,
  StepRecord,
  StepStatus,
} from './journal.js'
import { lockRetryMs } from './journal.js'
import { lockedError, lockLostError } from './lock-error.js'
import { sleep } from '../sleep.js'

interface AppState {
  seq: number
  releases: ReleaseRecord[]
  steps: StepRecord[]
  pools: Partial<Record<PoolName, PoolRecord>>
  rollbacks?: RollbackRecord[]
  /** The holder recorded last, kept after its lock file is gone (see lastLockHolder). */
  lastHolder?: LockHolder
  /** Journals written before pool standings: their standby record, read once. */
  standby?: { pool: PoolName; until: string; retiredAt?: string }
  audit: AuditEntry[]
}

/** Journals from before pool standings: every recorded pool was live or the standby. */
function upgrade(state: AppState): AppState {
  for (const record of Object.values(state.pools)) {
    if (!record || record.standing) continue
    const standby = state.standby?.pool === record.pool ? state.standby : undefined
    record.standing = standby ? (standby.retiredAt ? 'retired' : 'standby') : 'live'
    record.since ??= (record as { deployedAt?: string }).deployedAt ?? new Date().toISOString()
    if (standby && !standby.retiredAt) record.until = standby.until
  }
  delete state.standby
  return state
}
interface FileState {
  format: 1
  apps: Record<string, AppState>
}

/**
 * Replaces `path` with `content` all at once (a reader sees the old file or the new one). Durable
 * (fsynced before the rename) unless `durable` is false: for a cache that may be lost in a power
 * cut, and must not cost a rollback the fsync on its way to the switch.
 */
export function writeFileAtomic(path: string, content: string, { durable = true } = {}): void {
  mkdirSync(dirname(path), { recursive: true })
  const temp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`
  const fd = openSync(temp, 'w', 0o600)
  try {
    writeSync(fd, content)
    if (durable) fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temp, path)
}

export class FileJournal implements Journal {
  readonly kind = 'file' as const

  constructor(private readonly path: string) {}

  private read(): FileState {
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as FileState
      if (parsed.format !== 1 || typeof parsed.apps !== 'object') throw new Error('unknown format')
      return parsed
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { format: 1, apps: {} }
      throw new BluegreenError({
        code: 'PLAN_INVALID',
        message: `the state file ${this.path} cannot be read: ${(error as Error).message}`,
        hint: 'restore it from a backup, or move it away to start a fresh journal (the load balancer still knows the live pool)',
      })
    }
  }

  private update<T>(app: string, fn: (state: AppState) => T): T {
    const state = this.read()
    const appState = upgrade((state.apps[app] ??= { seq: 0, releases: [], steps: [], pools: {}, audit: [] }))
    const result = fn(appState)
    writeFileAtomic(this.path, JSON.stringify(state, null, 2) + '\n')
    return result
  }

  private view(app: string): AppState {
    const state = this.read().apps[app]
    return state ? upgrade(state) : { seq: 0, releases: [], steps: [], pools: {}, audit: [] }
  }

  private lockPath(app: string): string {
    return `${this.path}.${app}.lock`
  }

  async lockHolder(app: string): Promise<LockHolder | undefined> {
    const lock = this.readLock(app)
    if (!lock) return undefined
    const { token: _token, ...holder } = lock
    return holder
  }

  async lastLockHolder(app: string): Promise<LockHolder | undefined> {
    return (await this.lockHolder(app)) ?? this.view(app).lastHolder
  }

  async withLock<T>(
    app: string,
    holder: LockHolder,
    fn: (lease: Lease) => Promise<T>,
    options: LockOptions = {},
  ): Promise<T> {
    const path = this.lockPath(app)
    mkdirSync(dirname(path), { recursive: true })
    // --wait-lock: try again until the deadline, saying who holds it.
    const deadline = Date.now() + (options.waitMs ?? 0)
    for (;;) {
      // A LOCKED error from inside fn (a nested command) is not a reason to wait.
      let acquired = false
      try {
        return await this.withLockOnce(
          app,
          holder,
          (lease) => {
            acquired = true
            return fn(lease)
          },
          options,
        )
      } catch (error) {
        const waiting = !acquired && error instanceof BluegreenError && error.code === 'LOCKED'
        if (!waiting || Date.now() >= deadline) throw error
        options.onWait?.(await this.lockHolder(app))
        await sleep(Math.min(lockRetryMs, deadline - Date.now()))
      }
    }
  }

  private async withLockOnce<T>(
    app: string,
    holder: LockHolder,
    fn: (lease: Lease) => Promise<T>,
    options: LockOptions,
  ): Promise<T> {
    const path = this.lockPath(app)
    const previous = this.view(app).lastHolder
    if (
      previous &&
      !options.besideLostHolder &&
      !(await this.lockHolder(app)) &&
      holderStillRunning(previous, holder)
    )
      throw lockedError(app, previous, true)
    // The lock file names its holder with a token of its own: the lease is the file still being ours.
    const mine: LockHolder & { token: string } = { ...holder, token: randomUUID() }
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600)
        writeSync(fd, JSON.stringify(mine))
        fsyncSync(fd)
        closeSync(fd)
        break
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0)
          throw lockedError(app, await this.lockHolder(app))
        const current = await this.lockHolder(app)
        if (current && !isStale(current)) throw lockedError(app, current)
        // The holder died without releasing: take the lock over, and say so in the audit log.
        rmSync(path, { force: true })
        await this.audit({
          app,
          action: 'lock.takeover',
          actor: holder.holder,
          detail: `stale lock of pid ${current?.pid ?? '?'} removed`,
        })
        if (current) options.onStaleLock?.(current)
      }
    }
    this.update(app, (state) => void (state.lastHolder = holder))
    const held = () => (this.readLock(app) as { token?: string } | undefined)?.token === mine.token
    const lease: Lease = {
      verify: async () => {
        if (!held())
          throw lockLostError(app, 'its lock file was removed or replaced', await this.lockHolder(app))
      },
    }
    try {
      return await fn(lease)
    } finally {
      if (held()) {
        rmSync(path, { force: true })
        this.update(app, (state) => void delete state.lastHolder)
      }
    }
  }

  private readLock(app: string): (LockHolder & { token?: string }) | undefined {
    try {
      return JSON.parse(readFileSync(this.lockPath(app), 'utf8')) as LockHolder & { token?: string }
    } catch {
      return undefined
    }
  }

  async forceUnlock(app: string): Promise<LockHolder | undefined> {
    const holder = await this.lastLockHolder(app)
    rmSync(this.lockPath(app), { force: true })
    this.update(app, (state) => void delete state.lastHolder)
    return holder
  }

  async startRelease(
    release: Omit<ReleaseRecord, 'id' | 'seq' | 'status' | 'startedAt'>,
  ): Promise<ReleaseRecord> {
    return this.update(release.app, (state) => {
      const running = state.releases.find((r) => r.status === 'running')
      if (running) throw new Error(`release ${running.id} is still running`)
      const record: ReleaseRecord = {
        ...release,
        id: randomUUID(),
        seq: ++state.seq,
        status: 'running',
        startedAt: new Date().toISOString(),
      }
      state.releases.push(record)
      return record
    })
  }

  async unfinishedRelease(app: string): Promise<ReleaseRecord | undefined> {
    return this.view(app).releases.find((r) => r.status === 'running')
  }

  async finishRelease(id: string, outcome: ReleaseOutcome): Promise<void> {
    const app = this.appOf(id)
    this.update(app, (state) => {
      const release = state.releases.find((r) => r.id === id)
      if (release) Object.assign(release, { ...outcome, finishedAt: new Date().toISOString() })
    })
  }

  async setRunner(id: string, runner: { pid: number; host: string }): Promise<void> {
    this.update(this.appOf(id), (state) => {
      const release = state.releases.find((r) => r.id === id)
      if (release) release.runner = runner
    })
  }

  async release(id: string): Promise<ReleaseRecord | undefined> {
    for (const state of Object.values(this.read().apps)) {
      const found = state.releases.find((r) => r.id === id)
      if (found) return found
    }
    return undefined
  }

  private appOf(releaseId: string): string {
    for (const [app, state] of Object.entries(this.read().apps)) {
      if (state.releases.some((r) => r.id === releaseId)) return app
    }
    throw new Error(`unknown release ${releaseId}`)
  }

  async releases(app: string, limit: number): Promise<ReleaseRecord[]> {
    return [...this.view(app).releases].sort((a, b) => b.seq - a.seq).slice(0, limit)
  }

  async stepStarted(releaseId: string, index: number, kind: string): Promise<void> {
    this.update(this.appOf(releaseId), (state) => {
      state.steps = state.steps.filter((s) => !(s.releaseId === releaseId && s.index === index))
      state.steps.push({ releaseId, index, kind, status: 'started', startedAt: new Date().toISOString() })
    })
  }

  async stepFinished(
    releaseId: string,
    index: number,
    status: Exclude<StepStatus, 'started'>,
    ms: number,
    summary: string,
  ): Promise<void> {
    this.update(this.appOf(releaseId), (state) => {
      const step = state.steps.find((s) => s.releaseId === releaseId && s.index === index)
      if (step) Object.assign(step, { status, ms, summary, finishedAt: new Date().toISOString() })
    })
  }

  async steps(releaseId: string): Promise<StepRecord[]> {
    for (const state of Object.values(this.read().apps)) {
      const steps = state.steps.filter((s) => s.releaseId === releaseId)
      if (steps.length > 0) return steps.sort((a, b) => a.index - b.index)
    }
    return []
  }

  async setPools(app: string, records: PoolRecord[]): Promise<void> {
    const live = records.filter((r) => r.standing === 'live').map((r) => r.pool)
    this.update(app, (state) => {
      const next = { ...state.pools }
      for (const record of records) next[record.pool] = { ...record }
      // The rule PostgreSQL keeps with an exclusion constraint: at most one live pool.
      if (Object.values(next).filter((r) => r?.standing === 'live').length > 1)
        throw new Error(`two live pools after setting ${live.join(', ')}`)
      state.pools = next
    })
  }

  async pools(app: string): Promise<Partial<Record<PoolName, PoolRecord>>> {
    return this.view(app).pools
  }

  async startRollback(
    record: Omit<RollbackRecord, 'id' | 'startedAt'> & { startedAt?: string },
  ): Promise<RollbackRecord> {
    return this.update(record.app, (state) => {
      const rollbacks = (state.rollbacks ??= [])
      const open = rollbacks.find((r) => !r.finishedAt)
      if (open) throw new Error(`rollback ${open.id} is still unfinished`)
      const created: RollbackRecord = {
        ...record,
        id: randomUUID(),
        startedAt: record.startedAt ?? new Date().toISOString(),
      }
      rollbacks.push(created)
      return created
    })
  }

  async finishRollback(
    id: string,
    result: { ms?: number; abandoned?: boolean; finishedAt?: string },
    audit: Omit<AuditEntry, 'at'> & { at?: string },
  ): Promise<void> {
    this.update(audit.app, (state) => {
      const rollback = state.rollbacks?.find((r) => r.id === id)
      if (!rollback || rollback.finishedAt) return
      Object.assign(rollback, {
        finishedAt: result.finishedAt ?? new Date().toISOString(),
        ms: result.ms,
        ...(result.abandoned ? { abandoned: true } : {}),
      })
      state.audit.push({ ...audit, at: audit.at ?? new Date().toISOString() })
    })
  }

  async unfinishedRollbacks(app: string): Promise<RollbackRecord[]> {
    return (this.view(app).rollbacks ?? []).filter((r) => !r.finishedAt)
  }

  async rollbacks(app: string, limit: number): Promise<RollbackRecord[]> {
    return [...(this.view(app).rollbacks ?? [])].reverse().slice(0, limit)
  }

  async audit(entry: Omit<AuditEntry, 'at'> & { at?: string }): Promise<void> {
    this.update(
      entry.app,
      (state) => void state.audit.push({ ...entry, at: entry.at ?? new Date().toISOString() }),
    )
  }

  async auditLog(app: string, limit: number): Promise<AuditEntry[]> {
    return this.view(app).audit.slice(-limit).reverse()
  }

  async releaseAudit(releaseId: string): Promise<AuditEntry[]> {
    for (const state of Object.values(this.read().apps)) {
      if (state.releases.some((r) => r.id === releaseId))
        return state.audit.filter((e) => e.releaseId === releaseId)
    }
    return []
  }

  async close(): Promise<void> {}
}

function isStale(holder: LockHolder): boolean {
  return holderIsGone(holder)
}
