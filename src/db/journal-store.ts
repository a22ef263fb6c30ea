/**
 * The journal in PostgreSQL: tables in schema `bluegreen` of the application database.
 * The rules live in the schema: one running release per app (partial unique index), steps
 * belong to a release, the audit log is append-only (a trigger refuses UPDATE and DELETE).
 * The release lock is a session advisory lock on a connection of its own, taken with a
 * try-lock, so the server frees it if the process dies.
 */
import type {
  Journal,
  LockHolder,
  PoolRecord,
  ReleaseRecord,
  ReleaseStatus,
  StandbyRecord,
  StepRecord,
  StepStatus,
  AuditEntry,
} from '../engine/journal.js'
import { lockedError } from '../engine/lock-error.js'
import { isBluegreenError } from '../errors.js'
import type { PoolName } from '../plan/schema.js'
import { connect, connectionLostError, isConnectionLost, withClient, type Client } from './client.js'
import { STATE_SCHEMA_LOCK } from './state-schema.js'

const journalSchema = `
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

/** Creates the journal tables once per database; concurrent callers serialize on an xact lock. */
export async function ensureJournalSchema(client: Client): Promise<void> {
  // Nearly always the tables exist: one round trip. They are created in one transaction, so
  // seeing one of them means all of them are there.
  if (await journalTablesExist(client)) return
  await client.query('BEGIN')
  try {
    // The same lock as the migration tables' creation (state-schema.ts), so the two never race.
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [STATE_SCHEMA_LOCK])
    if (!(await journalTablesExist(client))) await client.query(journalSchema)
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}

async function journalTablesExist(client: Client): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT to_regclass('bluegreen.locks') IS NOT NULL AS ok`,
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
  }
}

const lockKey = `hashtext('bluegreen.release'), hashtext($1)`

export class PostgresJournal implements Journal {
  readonly kind = 'postgres' as const

  constructor(
    private readonly client: Client,
    private readonly url: string,
    /** The lock's connection, opened early (withPostgresJournal's `lockConnection`). */
    private lockConnection?: Promise<Client>,
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

  /** Every journal query: a lost connection becomes DATABASE_UNREACHABLE, not a raw pg error. */
  private async q<R extends object = Record<string, unknown>>(text: string, values?: unknown[]) {
    try {
      return await this.client.query<R>(text, values)
    } catch (error) {
      throw connectionLostError(error, 'writing the journal')
    }
  }

  async lockHolder(app: string): Promise<LockHolder | undefined> {
    const { rows } = await this.q<{
      holder: string
      pid: number
      host: string
      since: Date
      command: string
    }>(
      `SELECT l.holder, l.pid, l.host, l.since, l.command FROM bluegreen.locks l
        WHERE l.app = $1 AND EXISTS (SELECT 1 FROM pg_locks k WHERE k.pid = l.backend_pid AND k.locktype = 'advisory' AND k.granted)`,
      [app],
    )
    const row = rows[0]
    return row && { ...row, since: row.since.toISOString() }
  }

  async withLock<T>(app: string, holder: LockHolder, fn: () => Promise<T>): Promise<T> {
    // The lock lives on a connection of its own so that it is held exactly as long as `fn` runs.
    const early = this.lockConnection
    this.lockConnection = undefined
    let lockClient: Client
    try {
      lockClient = await this.lockOn(early ?? connect(this.url), app, holder)
    } catch (error) {
      // The early connection may have been dropped while a confirmation prompt waited: one
      // fresh connection, then the error as it is.
      if (!early || !(isConnectionLost(error) || isUnreachable(error))) throw lockError(error)
      lockClient = await this.lockOn(connect(this.url), app, holder).catch((retry: unknown) => {
        throw lockError(retry)
      })
    }
    try {
      return await fn()
    } finally {
      await lockClient
        .query(`DELETE FROM bluegreen.locks WHERE app = $1 AND backend_pid = pg_backend_pid()`, [app])
        .catch(() => {})
      await lockClient.query(`SELECT pg_advisory_unlock(${lockKey})`, [app]).catch(() => {})
      await lockClient.end().catch(() => {})
    }
  }

  /** Takes the lock on a connection being opened and records its holder; or ends the connection. */
  private async lockOn(connecting: Promise<Client>, app: string, holder: LockHolder): Promise<Client> {
    const lockClient = await connecting
    try {
      const { rows } = await lockClient.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_lock(${lockKey}) AS ok`,
        [app],
      )
      if (!rows[0]?.ok) {
        // The holder writes its row just after taking the lock: give it a moment to appear.
        let current = await this.lockHolder(app)
        for (let i = 0; !current && i < 5; i++) {
          await new Promise((resolve) => setTimeout(resolve, 50))
          current = await this.lockHolder(app)
        }
        throw lockedError(app, current)
      }
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
    const holder = await this.lockHolder(app)
    // A stale lock is a session that still exists (a hung process, a pooled connection):
    // terminating that backend is what frees an advisory lock.
    await this.q(
      `SELECT pg_terminate_backend(l.backend_pid) FROM bluegreen.locks l WHERE l.app = $1 AND l.backend_pid <> pg_backend_pid()`,
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

  async finishRelease(id: string, status: Exclude<ReleaseStatus, 'running'>, error?: string): Promise<void> {
    await this.q(`UPDATE bluegreen.releases SET status = $2, error = $3, finished_at = now() WHERE id = $1`, [
      id,
      status,
      error ?? null,
    ])
  }

  async releases(app: string, limit: number): Promise<ReleaseRecord[]> {
    const { rows } = await this.q<ReleaseRow>(
      `SELECT * FROM bluegreen.releases WHERE app = $1 ORDER BY seq DESC LIMIT $2`,
      [app, limit],
    )
    return rows.map(toRelease)
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

  async setPool(app: string, record: PoolRecord): Promise<void> {
    await this.q(
      `INSERT INTO bluegreen.pools (app, pool, version, release_seq, deployed_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (app, pool) DO UPDATE SET version = EXCLUDED.version, release_seq = EXCLUDED.release_seq, deployed_at = EXCLUDED.deployed_at`,
      [app, record.pool, record.version, record.releaseSeq, record.deployedAt],
    )
  }

  async pools(app: string): Promise<Partial<Record<PoolName, PoolRecord>>> {
    const { rows } = await this.q<{
      pool: PoolName
      version: string
      release_seq: string
      deployed_at: Date
    }>(`SELECT pool, version, release_seq, deployed_at FROM bluegreen.pools WHERE app = $1`, [app])
    const result: Partial<Record<PoolName, PoolRecord>> = {}
    for (const r of rows)
      result[r.pool] = {
        pool: r.pool,
        version: r.version,
        releaseSeq: Number(r.release_seq),
        deployedAt: r.deployed_at.toISOString(),
      }
    return result
  }

  async setStandby(app: string, record: StandbyRecord): Promise<void> {
    await this.q(
      `INSERT INTO bluegreen.standby (app, pool, version, release_seq, until, retired_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (app) DO UPDATE SET pool = EXCLUDED.pool, version = EXCLUDED.version, release_seq = EXCLUDED.release_seq,
         until = EXCLUDED.until, retired_at = EXCLUDED.retired_at`,
      [app, record.pool, record.version ?? null, record.releaseSeq, record.until, record.retiredAt ?? null],
    )
  }

  async standby(app: string): Promise<StandbyRecord | undefined> {
    const { rows } = await this.q<{
      pool: PoolName
      version: string | null
      release_seq: string
      until: Date
      retired_at: Date | null
    }>(`SELECT pool, version, release_seq, until, retired_at FROM bluegreen.standby WHERE app = $1`, [app])
    const r = rows[0]
    return (
      r && {
        pool: r.pool,
        version: r.version ?? undefined,
        releaseSeq: Number(r.release_seq),
        until: r.until.toISOString(),
        retiredAt: r.retired_at?.toISOString(),
      }
    )
  }

  async audit(entry: Omit<AuditEntry, 'at'> & { at?: string }): Promise<void> {
    await this.q(
      `INSERT INTO bluegreen.audit (at, app, action, actor, detail) VALUES (coalesce($1::timestamptz, now()), $2, $3, $4, $5)`,
      [entry.at ?? null, entry.app, entry.action, entry.actor, entry.detail],
    )
  }

  async auditLog(app: string, limit: number): Promise<AuditEntry[]> {
    const { rows } = await this.q<{
      at: Date
      app: string
      action: string
      actor: string
      detail: string
    }>(
      `SELECT at, app, action, actor, detail FROM bluegreen.audit WHERE app = $1 ORDER BY id DESC LIMIT $2`,
      [app, limit],
    )
    return rows.map((r) => ({ ...r, at: r.at.toISOString() }))
  }

  /** The open connection, for phases that run SQL on the application database. */
  get connection(): Client {
    return this.client
  }
}

/** Opens a connection for the duration of `fn`, makes sure the journal tables exist, and closes it. */
export async function withPostgresJournal<T>(
  url: string,
  fn: (journal: PostgresJournal) => Promise<T>,
  options: { lockConnection?: boolean } = {},
): Promise<T> {
  // A command that will take the release lock opens its connection now, alongside this one,
  // instead of one round of connection set-up after the other.
  const lockConnection = options.lockConnection ? connect(url) : undefined
  // If this connection fails first, nobody awaits that one: it must not be an unhandled rejection.
  lockConnection?.catch(() => {})
  let journal: PostgresJournal | undefined
  try {
    return await withClient(url, async (client) => {
      await ensureJournalSchema(client)
      journal = new PostgresJournal(client, url, lockConnection)
      return fn(journal)
    })
  } finally {
    await (journal?.close() ?? lockConnection?.then((c) => c.end()).catch(() => {}))
  }
}
