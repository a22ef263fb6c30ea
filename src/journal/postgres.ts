/**
 * The journal in PostgreSQL: tables in schema `bluegreen` of the application database.
 * The rules live in the schema: one running release per app (partial unique index), steps
 * belong to a release, the audit log is append-only (a trigger refuses UPDATE and DELETE).
 * The release lock is a session advisory lock on a connection of its own, taken with a
 * try-lock, so the server frees it if the process dies.
 */
import type {
  AuditEntry,
  Journal,
  Lease,
  LockHolder,
  LockOptions,
  PoolRecord,
  ReleaseOutcome,
  ReleaseRecord,
  ReleaseStatus,
  RollbackRecord,
  Standing,
  StepRecord,
  StepStatus,
} from './journal.js'
import { lockRetryMs } from './journal.js'
import { lockedError, lockLostError } from './lock-error.js'
import { isBluegreenError } from '../errors.js'
import type { PoolName } from '../pools.js'
import { holderStillRunning } from './holder.js'
import {
  connect,
  connectionLostError,
  idleLimits,
  isConnectionLost,
  offSessionLimits,
  withClient,
  type Client,
} from '../db/client.js'
import { STATE_SCHEMA_LOCK } from '../db/state-schema.js'
import type { ContractLedger } from './contract-ledger.js'
import { postgresContractLedger } from './postgres-contracts.js'
import { sleep } from '../sleep.js'

export const journalSchemaV1 = `
CREATE SCHEMA IF NOT EXISTS bluegreen;
CREATE TABLE IF NOT EXISTS bluegreen.releases (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigserial NOT NULL UNIQUE,
  app text NOT NULL,
  version text NOT NULL,
  plan_hash text NOT NULL,
  from_pool text NOT NULL CHECK (from_pool IN ('blue', 'green')),
  to_pool text NOT NULL CHECK (to_pool IN ('blue', 'green') AND to_pool <> from_pool),
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed', 'rolled_back')),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  error text
);
CREATE UNIQUE INDEX IF NOT EXISTS one_running_release_per_app ON bluegreen.releases (app) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS bluegreen.steps (
  release_id uuid NOT NULL REFERENCES bluegreen.releases (id) ON DELETE CASCADE,
  idx int NOT NULL,
  kind text NOT NULL,
  status text NOT NULL CHECK (status IN ('started', 'done', 'failed')),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  ms int,
  summary text,
  PRIMARY KEY (release_id, idx)
);
CREATE TABLE IF NOT EXISTS bluegreen.pools (
  app text NOT NULL,
  pool text NOT NULL CHECK (pool IN ('blue', 'green')),
  version text NOT NULL,
  release_seq bigint NOT NULL,
  deployed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app, pool)
);
CREATE TABLE IF NOT EXISTS bluegreen.standby (
  app text PRIMARY KEY,
  pool text NOT NULL CHECK (pool IN ('blue', 'green')),
  version text,
  release_seq bigint NOT NULL,
  until timestamptz NOT NULL,
  retired_at timestamptz
);
CREATE TABLE IF NOT EXISTS bluegreen.audit (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  app text NOT NULL,
  action text NOT NULL,
  actor text NOT NULL,
  detail text NOT NULL
);
CREATE OR REPLACE FUNCTION bluegreen.audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'bluegreen.audit is append-only';
END $$;
DROP TRIGGER IF EXISTS audit_append_only ON bluegreen.audit;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON bluegreen.audit
  FOR EACH ROW EXECUTE FUNCTION bluegreen.audit_is_append_only();
CREATE TABLE IF NOT EXISTS bluegreen.locks (
  app text PRIMARY KEY,
  holder text NOT NULL,
  pid int NOT NULL,
  host text NOT NULL,
  since timestamptz NOT NULL,
  command text NOT NULL,
  backend_pid int NOT NULL
);
`

/**
 * Pools that know what they run (issue 12): each pool's standing, the outcome of each release,
 * and rollbacks recorded before the switch. Applied to old journals in the same transaction as
 * the tables above; journals from before it get standings from their standby row.
 */
const standingSchema = `
ALTER TABLE bluegreen.releases
  ADD COLUMN IF NOT EXISTS failed_index int,
  ADD COLUMN IF NOT EXISTS failed_kind text,
  ADD COLUMN IF NOT EXISTS rollback text CHECK (rollback IN ('automatic', 'manual')),
  ADD COLUMN IF NOT EXISTS reached_users boolean,
  ADD COLUMN IF NOT EXISTS runner_pid int,
  ADD COLUMN IF NOT EXISTS runner_host text;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'rollback_only_when_rolled_back') THEN
    ALTER TABLE bluegreen.releases ADD CONSTRAINT rollback_only_when_rolled_back
      CHECK (rollback IS NULL OR status = 'rolled_back');
  END IF;
  -- Once: pools get their standing, from the standby row of journals written before it.
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'bluegreen.pools'::regclass AND attname = 'standing') THEN
    ALTER TABLE bluegreen.pools
      ALTER COLUMN version DROP NOT NULL,
      ADD COLUMN release_id uuid,
      ADD COLUMN standing text NOT NULL DEFAULT 'live'
        CHECK (standing IN ('live', 'standby', 'candidate', 'rolled_back', 'retired')),
      ADD COLUMN since timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN until timestamptz,
      ADD CONSTRAINT window_only_for_standby CHECK (until IS NULL OR standing = 'standby');
    UPDATE bluegreen.pools p SET
      standing = CASE WHEN s.retired_at IS NOT NULL THEN 'retired' ELSE 'standby' END,
      until = CASE WHEN s.retired_at IS NULL THEN s.until END
      FROM bluegreen.standby s WHERE s.app = p.app AND s.pool = p.pool;
    -- At most one live pool per app, checked at the end of the statement or transaction that
    -- moves the standing from one pool to the other.
    ALTER TABLE bluegreen.pools ADD CONSTRAINT one_live_pool_per_app
      EXCLUDE USING btree (app WITH =) WHERE (standing = 'live') DEFERRABLE INITIALLY DEFERRED;
  END IF;
END $$;
CREATE TABLE IF NOT EXISTS bluegreen.rollbacks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  app text NOT NULL,
  from_pool text NOT NULL CHECK (from_pool IN ('blue', 'green')),
  to_pool text NOT NULL CHECK (to_pool IN ('blue', 'green') AND to_pool <> from_pool),
  release_id uuid REFERENCES bluegreen.releases (id),
  version text,
  reason text NOT NULL,
  automatic boolean NOT NULL,
  forced boolean NOT NULL,
  actor text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  ms int,
  finished_at timestamptz CHECK (finished_at >= started_at - interval '1 minute'),
  abandoned boolean NOT NULL DEFAULT false
);
-- One rollback in flight per app: a re-run completes it instead of starting another.
CREATE UNIQUE INDEX IF NOT EXISTS one_unfinished_rollback_per_app ON bluegreen.rollbacks (app) WHERE finished_at IS NULL;
`

/** Approval gates (issue 18): an audit entry may name the release and step it concerns. */
const releaseAuditSchema = `
ALTER TABLE bluegreen.audit
  ADD COLUMN IF NOT EXISTS release_id uuid,
  ADD COLUMN IF NOT EXISTS step int;
CREATE INDEX IF NOT EXISTS audit_by_release ON bluegreen.audit (release_id) WHERE release_id IS NOT NULL;
`

/** Creates the journal tables once per database; concurrent callers serialize on an xact lock. */
export async function ensureJournalSchema(client: Client): Promise<void> {
  // Nearly always the tables exist: one round trip. They are created in one transaction, so
  // seeing the newest of them means all of them are there.
  if (await journalTablesExist(client)) return
  await client.query('BEGIN')
  try {
    // The same lock as the migration tables' creation (state-schema.ts), so the two never race.
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [STATE_SCHEMA_LOCK])
    if (!(await journalTablesExist(client))) {
      await client.query(journalSchemaV1)
      await client.query(standingSchema)
      await client.query(releaseAuditSchema)
    }
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}

async function journalTablesExist(client: Client): Promise<boolean> {
  // The newest column of the newest schema step: an older journal gets the rest added. Read
  // from pg_class as a table, not with to_regclass: to_regclass answers from the session's
  // catalog cache, which keeps "no such table" from before the advisory lock was waited for, so
  // two commands starting together on a fresh database both created the tables.
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'bluegreen' AND c.relname = 'audit' AND a.attname = 'step' AND NOT a.attisdropped) AS ok`,
  )
  return rows[0]?.ok === true
}

function isUnreachable(error: unknown): boolean {
  return isBluegreenError(error) && error.code === 'DATABASE_UNREACHABLE'
}

function lockError(error: unknown): unknown {
  return connectionLostError(error, 'taking the release lock')
}

interface ReleaseRow {
  id: string
  seq: string
  app: string
  version: string
  plan_hash: string
  from_pool: PoolName
  to_pool: PoolName
  status: ReleaseStatus
  started_at: Date
  finished_at: Date | null
  error: string | null
  failed_index: number | null
  failed_kind: string | null
  rollback: 'automatic' | 'manual' | null
  reached_users: boolean | null
  runner_pid: number | null
  runner_host: string | null
}

function toRelease(row: ReleaseRow): ReleaseRecord {
  return {
    id: row.id,
    seq: Number(row.seq),
    app: row.app,
    version: row.version,
    planHash: row.plan_hash,
    from: row.from_pool,
    to: row.to_pool,
    status: row.status,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString(),
    error: row.error ?? undefined,
    failedStep:
      row.failed_index === null ? undefined : { index: row.failed_index, kind: row.failed_kind ?? '' },
    rollback: row.rollback ?? undefined,
    reachedUsers: row.reached_users ?? undefined,
    runner: row.runner_pid === null ? undefined : { pid: row.runner_pid, host: row.runner_host ?? '' },
  }
}

interface RollbackRow {
  id: string
  app: string
  from_pool: PoolName
  to_pool: PoolName
  release_id: string | null
  version: string | null
  reason: string
  automatic: boolean
  forced: boolean
  actor: string
  started_at: Date
  ms: number | null
  finished_at: Date | null
  abandoned: boolean
}

function toRollback(row: RollbackRow): RollbackRecord {
  return {
    id: row.id,
    app: row.app,
    from: row.from_pool,
    to: row.to_pool,
    releaseId: row.release_id ?? undefined,
    version: row.version ?? undefined,
    reason: row.reason,
    automatic: row.automatic,
    forced: row.forced,
    actor: row.actor,
    startedAt: row.started_at.toISOString(),
    ms: row.ms ?? undefined,
    finishedAt: row.finished_at?.toISOString(),
    abandoned: row.abandoned || undefined,
  }
}

const lockKey = `hashtext('bluegreen.release'), hashtext($1)`
/**
 * SQL: the backend `pid` holds app $1's release lock now. A row's backend_pid alone is not
 * enough: once its session is gone, the server may give that pid to any other session (of
 * another app or database on the same server), which must never be terminated for it.
 */
const holdsReleaseLock = (pid: string) =>
  `EXISTS (SELECT 1 FROM pg_locks k WHERE k.pid = ${pid} AND k.locktype = 'advisory' AND k.granted
     AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND k.classid = hashtext('bluegreen.release')::oid AND k.objid = hashtext($1)::oid AND k.objsubid = 2)`
/** How long a lease check may take before the lock counts as lost (a half-open connection hangs). */
const verifyTimeoutMs = 5000

export class PostgresJournal implements Journal {
  readonly kind = 'postgres' as const

  constructor(
    private readonly client: Client,
    private readonly url: string,
    /** The lock's connection, opened early (withPostgresJournal's `lockConnection`). */
    private lockConnection?: Promise<Client>,
    private readonly connectTimeoutMs?: number,
  ) {}

  /**
   * The journal's connection is owned by `withPostgresJournal`, which closes it; this closes the
   * early lock connection if withLock never took it.
   */
  async close(): Promise<void> {
    const unused = this.lockConnection
    this.lockConnection = undefined
    await unused?.then((client) => client.end()).catch(() => {})
  }

  /** Queries one at a time: pg 8 warns about (and pg 9 refuses) a query sent while one runs. */
  private queue: Promise<unknown> = Promise.resolve()

  /** Every journal query: a lost connection becomes DATABASE_UNREACHABLE, not a raw pg error. */
  private async q<R extends object = Record<string, unknown>>(text: string, values?: unknown[]) {
    const run = this.queue.then(() => this.client.query<R>(text, values))
    this.queue = run.catch(() => {})
    try {
      return await run
    } catch (error) {
      throw connectionLostError(error, 'writing the journal')
    }
  }

  async lockHolder(app: string): Promise<LockHolder | undefined> {
    const { rows } = await this.q<HolderRow>(
      `SELECT l.holder, l.pid, l.host, l.since, l.command FROM bluegreen.locks l
        WHERE l.app = $1 AND ${holdsReleaseLock('l.backend_pid')}`,
      [app],
    )
    return toHolder(rows[0])
  }

  async lastLockHolder(app: string): Promise<LockHolder | undefined> {
    const { rows } = await this.q<HolderRow>(
      `SELECT holder, pid, host, since, command FROM bluegreen.locks WHERE app = $1`,
      [app],
    )
    return toHolder(rows[0])
  }

  async withLock<T>(
    app: string,
    holder: LockHolder,
    fn: (lease: Lease) => Promise<T>,
    options: LockOptions = {},
  ): Promise<T> {
    // The lock lives on a connection of its own so that it is held exactly as long as `fn` runs.
    const early = this.lockConnection
    this.lockConnection = undefined
    const fresh = () => connect(this.url, { timeoutMs: this.connectTimeoutMs, keepAlive: true })
    let lockClient: Client
    try {
      lockClient = await this.lockOn(early ?? fresh(), app, holder, options)
    } catch (error) {
      // The early connection may have been dropped while a confirmation prompt waited: one
      // fresh connection, then the error as it is.
      if (!early || !(isConnectionLost(error) || isUnreachable(error))) throw lockError(error)
      lockClient = await this.lockOn(fresh(), app, holder, options).catch((retry: unknown) => {
        throw lockError(retry)
      })
    }
    // A fenced lock: the session that holds it may be cut (idle_session_timeout, a restart,
    // pg_terminate_backend, `unlock --force`), and the server then frees the lock for another
    // command. The holder learns it from the connection's events, or at the latest from the
    // round trip it makes before each step and each load-balancer write.
    let lost: string | undefined
    const onLost = (reason: string) => () => (lost ??= reason)
    lockClient.on('error', (error: Error) => onLost(error.message)())
    lockClient.on('end', onLost('the connection was closed'))
    const lease: Lease = {
      verify: async () => {
        if (!lost) {
          let timer: NodeJS.Timeout | undefined
          const alive = await Promise.race([
            lockClient.query('SELECT 1').then(
              () => true,
              (error: Error) => onLost(error.message)() && false,
            ),
            new Promise<false>((resolve) => {
              timer = setTimeout(() => {
                onLost(`no answer within ${verifyTimeoutMs / 1000} s`)()
                resolve(false)
              }, verifyTimeoutMs)
            }),
          ]).finally(() => clearTimeout(timer))
          if (alive) return
        }
        throw lockLostError(app, lost ?? 'unknown', await this.lockHolder(app).catch(() => undefined))
      },
    }
    try {
      return await fn(lease)
    } finally {
      // Bounded: a database that stopped answering must not keep the command from exiting
      // (the server frees the lock when the connection goes).
      const release = async () => {
        if (!lost) {
          await lockClient
            .query(`DELETE FROM bluegreen.locks WHERE app = $1 AND backend_pid = pg_backend_pid()`, [app])
            .catch(() => {})
          await lockClient.query(`SELECT pg_advisory_unlock(${lockKey})`, [app]).catch(() => {})
        }
        await lockClient.end().catch(() => {})
      }
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        release(),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, verifyTimeoutMs).unref())),
      ]).finally(() => clearTimeout(timer))
    }
  }

  /** Takes the lock on a connection being opened and records its holder; or ends the connection. */
  private async lockOn(
    connecting: Promise<Client>,
    app: string,
    holder: LockHolder,
    options: LockOptions,
  ): Promise<Client> {
    const lockClient = await connecting
    try {
      // The lock's session must outlive any idle or statement limit set for the role or database.
      await offSessionLimits(lockClient, [...idleLimits, 'statement_timeout'])
      const tryLock = async () =>
        (await lockClient.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${lockKey}) AS ok`, [app]))
          .rows[0]?.ok === true
      // --wait-lock: try again on the same session until the deadline, saying who holds it.
      const deadline = Date.now() + (options.waitMs ?? 0)
      let ok = await tryLock()
      while (!ok && Date.now() < deadline) {
        options.onWait?.(await this.lockHolder(app))
        await sleep(Math.min(lockRetryMs, deadline - Date.now()))
        ok = await tryLock()
      }
      if (!ok) {
        // The holder writes its row just after taking the lock: give it a moment to appear.
        let current = await this.lockHolder(app)
        for (let i = 0; !current && i < 5; i++) {
          await sleep(50)
          current = await this.lockHolder(app)
        }
        throw lockedError(app, current)
      }
      // A holder that lost its lock's session but still runs on this host (a release whose
      // connection was cut) must not have a second command beside it, e.g. a `--resume`.
      const previous = options.besideLostHolder ? undefined : await this.lastLockHolder(app)
      if (previous && holderStillRunning(previous, holder)) {
        await lockClient.query(`SELECT pg_advisory_unlock(${lockKey})`, [app])
        throw lockedError(app, previous, true)
      }
      // A row left behind: its holder died without releasing (a clean release deletes it).
      if (previous) options.onStaleLock?.(previous)
      await lockClient.query(
        `INSERT INTO bluegreen.locks (app, holder, pid, host, since, command, backend_pid)
         VALUES ($1, $2, $3, $4, $5, $6, pg_backend_pid())
         ON CONFLICT (app) DO UPDATE SET holder = EXCLUDED.holder, pid = EXCLUDED.pid, host = EXCLUDED.host,
           since = EXCLUDED.since, command = EXCLUDED.command, backend_pid = EXCLUDED.backend_pid`,
        [app, holder.holder, holder.pid, holder.host, holder.since, holder.command],
      )
      return lockClient
    } catch (error) {
      await lockClient.end().catch(() => {})
      throw error
    }
  }

  async forceUnlock(app: string): Promise<LockHolder | undefined> {
    const holder = await this.lastLockHolder(app)
    // A stale lock is a session that still exists (a hung process, a pooled connection):
    // terminating that backend is what frees an advisory lock.
    await this.q(
      `SELECT pg_terminate_backend(l.backend_pid) FROM bluegreen.locks l
        WHERE l.app = $1 AND l.backend_pid <> pg_backend_pid() AND ${holdsReleaseLock('l.backend_pid')}`,
      [app],
    )
    await this.q(`DELETE FROM bluegreen.locks WHERE app = $1`, [app])
    return holder
  }

  async startRelease(
    release: Omit<ReleaseRecord, 'id' | 'seq' | 'status' | 'startedAt'>,
  ): Promise<ReleaseRecord> {
    const { rows } = await this.q<ReleaseRow>(
      `INSERT INTO bluegreen.releases (app, version, plan_hash, from_pool, to_pool) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
      [release.app, release.version, release.planHash, release.from, release.to],
    )
    return toRelease(rows[0])
  }

  async unfinishedRelease(app: string): Promise<ReleaseRecord | undefined> {
    const { rows } = await this.q<ReleaseRow>(
      `SELECT * FROM bluegreen.releases WHERE app = $1 AND status = 'running'`,
      [app],
    )
    return rows[0] && toRelease(rows[0])
  }

  async setRunner(id: string, runner: { pid: number; host: string }): Promise<void> {
    await this.q(`UPDATE bluegreen.releases SET runner_pid = $2, runner_host = $3 WHERE id = $1`, [
      id,
      runner.pid,
      runner.host,
    ])
  }

  async finishRelease(id: string, outcome: ReleaseOutcome): Promise<void> {
    await this.q(
      `UPDATE bluegreen.releases SET status = $2, error = $3, finished_at = now(), failed_index = $4,
         failed_kind = $5, rollback = $6, reached_users = $7 WHERE id = $1`,
      [
        id,
        outcome.status,
        outcome.error ?? null,
        outcome.failedStep?.index ?? null,
        outcome.failedStep?.kind ?? null,
        outcome.rollback ?? null,
        outcome.reachedUsers ?? null,
      ],
    )
  }

  async releases(app: string, limit: number): Promise<ReleaseRecord[]> {
    const { rows } = await this.q<ReleaseRow>(
      `SELECT * FROM bluegreen.releases WHERE app = $1 ORDER BY seq DESC LIMIT $2`,
      [app, limit],
    )
    return rows.map(toRelease)
  }

  async release(id: string): Promise<ReleaseRecord | undefined> {
    const { rows } = await this.q<ReleaseRow>(`SELECT * FROM bluegreen.releases WHERE id = $1`, [id])
    return rows[0] && toRelease(rows[0])
  }

  async stepStarted(releaseId: string, index: number, kind: string): Promise<void> {
    await this.q(
      `INSERT INTO bluegreen.steps (release_id, idx, kind, status) VALUES ($1, $2, $3, 'started')
       ON CONFLICT (release_id, idx) DO UPDATE SET status = 'started', started_at = now(), finished_at = NULL, ms = NULL, summary = NULL`,
      [releaseId, index, kind],
    )
  }

  async stepFinished(
    releaseId: string,
    index: number,
    status: Exclude<StepStatus, 'started'>,
    ms: number,
    summary: string,
  ): Promise<void> {
    await this.q(
      `UPDATE bluegreen.steps SET status = $3, ms = $4, summary = $5, finished_at = now() WHERE release_id = $1 AND idx = $2`,
      [releaseId, index, status, Math.round(ms), summary],
    )
  }

  async steps(releaseId: string): Promise<StepRecord[]> {
    const { rows } = await this.q<{
      idx: number
      kind: string
      status: StepStatus
      started_at: Date
      finished_at: Date | null
      ms: number | null
      summary: string | null
    }>(`SELECT * FROM bluegreen.steps WHERE release_id = $1 ORDER BY idx`, [releaseId])
    return rows.map((r) => ({
      releaseId,
      index: r.idx,
      kind: r.kind,
      status: r.status,
      startedAt: r.started_at.toISOString(),
      finishedAt: r.finished_at?.toISOString(),
      ms: r.ms ?? undefined,
      summary: r.summary ?? undefined,
    }))
  }

  async setPools(app: string, records: PoolRecord[]): Promise<void> {
    if (records.length === 0) return
    // One statement: the one-live-pool rule is checked once both rows have their new standing.
    const values: unknown[] = [app]
    const tuples = records.map((r) => {
      const at = values.length
      values.push(
        r.pool,
        r.version ?? null,
        r.releaseSeq,
        r.releaseId ?? null,
        r.standing,
        r.since,
        r.until ?? null,
      )
      return `($1, $${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}::uuid, $${at + 5}, $${at + 6}::timestamptz, $${at + 7}::timestamptz, now())`
    })
    await this.q(
      `INSERT INTO bluegreen.pools (app, pool, version, release_seq, release_id, standing, since, until, deployed_at)
       VALUES ${tuples.join(', ')}
       ON CONFLICT (app, pool) DO UPDATE SET version = EXCLUDED.version, release_seq = EXCLUDED.release_seq,
         release_id = EXCLUDED.release_id, standing = EXCLUDED.standing, since = EXCLUDED.since, until = EXCLUDED.until,
         deployed_at = CASE WHEN bluegreen.pools.release_seq IS DISTINCT FROM EXCLUDED.release_seq
           THEN EXCLUDED.deployed_at ELSE bluegreen.pools.deployed_at END`,
      values,
    )
  }

  async pools(app: string): Promise<Partial<Record<PoolName, PoolRecord>>> {
    const { rows } = await this.q<{
      pool: PoolName
      version: string | null
      release_seq: string
      release_id: string | null
      standing: Standing
      since: Date
      until: Date | null
    }>(
      `SELECT pool, version, release_seq, release_id, standing, since, until FROM bluegreen.pools WHERE app = $1`,
      [app],
    )
    const result: Partial<Record<PoolName, PoolRecord>> = {}
    for (const r of rows)
      result[r.pool] = {
        pool: r.pool,
        version: r.version ?? undefined,
        releaseSeq: Number(r.release_seq),
        releaseId: r.release_id ?? undefined,
        standing: r.standing,
        since: r.since.toISOString(),
        until: r.until?.toISOString(),
      }
    return result
  }

  async startRollback(
    record: Omit<RollbackRecord, 'id' | 'startedAt'> & { startedAt?: string },
  ): Promise<RollbackRecord> {
    const { rows } = await this.q<RollbackRow>(
      `INSERT INTO bluegreen.rollbacks (app, from_pool, to_pool, release_id, version, reason, automatic, forced, actor, started_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10::timestamptz, now())) RETURNING *`,
      [
        record.app,
        record.from,
        record.to,
        record.releaseId ?? null,
        record.version ?? null,
        record.reason,
        record.automatic,
        record.forced,
        record.actor,
        record.startedAt ?? null,
      ],
    )
    return toRollback(rows[0])
  }

  async finishRollback(
    id: string,
    result: { ms?: number; abandoned?: boolean; finishedAt?: string },
    audit: Omit<AuditEntry, 'at'> & { at?: string },
  ): Promise<void> {
    // One statement: the rollback is finished exactly when its audit entry exists.
    await this.q(
      `WITH done AS (
         UPDATE bluegreen.rollbacks SET finished_at = coalesce($2::timestamptz, now()), ms = $3, abandoned = $4
          WHERE id = $1 AND finished_at IS NULL RETURNING id)
       INSERT INTO bluegreen.audit (at, app, action, actor, detail)
       SELECT coalesce($5::timestamptz, now()), $6, $7, $8, $9 FROM done`,
      [
        id,
        result.finishedAt ?? null,
        result.ms === undefined ? null : Math.round(result.ms),
        result.abandoned ?? false,
        audit.at ?? null,
        audit.app,
        audit.action,
        audit.actor,
        audit.detail,
      ],
    )
  }

  async unfinishedRollbacks(app: string): Promise<RollbackRecord[]> {
    const { rows } = await this.q<RollbackRow>(
      `SELECT * FROM bluegreen.rollbacks WHERE app = $1 AND finished_at IS NULL ORDER BY started_at`,
      [app],
    )
    return rows.map(toRollback)
  }

  async rollbacks(app: string, limit: number): Promise<RollbackRecord[]> {
    const { rows } = await this.q<RollbackRow>(
      `SELECT * FROM bluegreen.rollbacks WHERE app = $1 ORDER BY started_at DESC LIMIT $2`,
      [app, limit],
    )
    return rows.map(toRollback)
  }

  async audit(entry: Omit<AuditEntry, 'at'> & { at?: string }): Promise<void> {
    await this.q(
      `INSERT INTO bluegreen.audit (at, app, action, actor, detail, release_id, step)
       VALUES (coalesce($1::timestamptz, now()), $2, $3, $4, $5, $6, $7)`,
      [
        entry.at ?? null,
        entry.app,
        entry.action,
        entry.actor,
        entry.detail,
        entry.releaseId ?? null,
        entry.step ?? null,
      ],
    )
  }

  async releaseAudit(releaseId: string): Promise<AuditEntry[]> {
    const { rows } = await this.q<AuditRow>(
      `SELECT ${auditColumns} FROM bluegreen.audit WHERE release_id = $1 ORDER BY id`,
      [releaseId],
    )
    return rows.map(toAudit)
  }

  async auditLog(app: string, limit: number): Promise<AuditEntry[]> {
    const { rows } = await this.q<AuditRow>(
      `SELECT ${auditColumns} FROM bluegreen.audit WHERE app = $1 ORDER BY id DESC LIMIT $2`,
      [app, limit],
    )
    return rows.map(toAudit)
  }

  private ledger?: ContractLedger

  /** The contract ledger, on the journal's connection. */
  get contracts(): ContractLedger {
    this.ledger ??= postgresContractLedger(this.client)
    return this.ledger
  }

  /** The open connection, for phases that run SQL on the application database. */
  get connection(): Client {
    return this.client
  }
}

/**
 * Turns the given limits off for this session, one round trip; those the server does not have
 * (idle_session_timeout is PostgreSQL 14+) are skipped rather than failing the command.
 */

const auditColumns = 'at, app, action, actor, detail, release_id, step'

interface AuditRow {
  at: Date
  app: string
  action: string
  actor: string
  detail: string
  release_id: string | null
  step: number | null
}

function toAudit({ release_id, step, ...row }: AuditRow): AuditEntry {
  return {
    ...row,
    at: row.at.toISOString(),
    ...(release_id === null ? {} : { releaseId: release_id }),
    ...(step === null ? {} : { step }),
  }
}

interface HolderRow {
  holder: string
  pid: number
  host: string
  since: Date
  command: string
}

function toHolder(row: HolderRow | undefined): LockHolder | undefined {
  return row && { ...row, since: row.since.toISOString() }
}

/** Opens a connection for the duration of `fn`, makes sure the journal tables exist, and closes it. */
export async function withPostgresJournal<T>(
  url: string,
  fn: (journal: PostgresJournal) => Promise<T>,
  options: { lockConnection?: boolean; connectTimeoutMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.connectTimeoutMs
  // A command that will take the release lock opens its connection now, alongside this one,
  // instead of one round of connection set-up after the other.
  const lockConnection = options.lockConnection ? connect(url, { timeoutMs, keepAlive: true }) : undefined
  // If this connection fails first, nobody awaits that one: it must not be an unhandled rejection.
  lockConnection?.catch(() => {})
  let journal: PostgresJournal | undefined
  try {
    return await withClient(
      url,
      async (client) => {
        // A release idles through long steps: a limit set for the role or database must not cut
        // the journal's connection under it.
        await offSessionLimits(client, idleLimits)
        await ensureJournalSchema(client)
        journal = new PostgresJournal(client, url, lockConnection, timeoutMs)
        return fn(journal)
      },
      { timeoutMs },
    )
  } finally {
    await (journal?.close() ?? lockConnection?.then((c) => c.end()).catch(() => {}))
  }
}
