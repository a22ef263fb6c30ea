/**
 * Batched backfills: UPDATE a big table in small key ranges, each in its own short transaction,
 * so no row stays locked for long and the application keeps writing.
 *
 * Batches walk the key (the primary key unless told otherwise: integer, uuid, text or composite)
 * with keyset pagination: find the key that ends the next `batchSize` rows, then update the range
 * (last, end] where `where` still holds. Ranges, not row lists, because the UPDATE is then one
 * index range scan, and a range stays correct even if the key is not unique.
 *
 * Resumable: the batch's UPDATE and the new last key commit together in bluegreen.backfills, so
 * a restart (after a crash, a kill, an abort) continues after the last finished range and never
 * rescans it. Idempotent: `where` selects the rows still to do.
 */
import { createHash } from 'node:crypto'
import { BluegreenError } from '../errors.js'
import {
  abortableSleep,
  idleLimits,
  isLockTimeout,
  offSessionLimits,
  quoteIdent,
  withClient,
  type Client,
} from './client.js'
import { defaultRetryPolicy, lockTimeoutError, retryOnLockTimeout, type RetryInfo } from './lock-retry.js'
import { ensureStateSchema } from './state-schema.js'

export interface BackfillOptions {
  /** The table, optionally schema-qualified (`public.profiles`). */
  table: string
  /** The SQL assignment list, e.g. `first_name = split_part(name, ' ', 1)`. */
  set: string
  /** Selects the rows still to do, e.g. `first_name IS NULL`. */
  where: string
  /** Key columns to walk (default: the primary key). */
  key?: string[]
  /** Rows per batch; with `targetBatchMs`, the first batch's. */
  batchSize: number
  /**
   * Adapt the batch size to the time batches take: after each batch the next is sized to take
   * about this long (at most twice the last one's rows, at least a quarter, and never more than
   * 20 × batchSize), so a fast table gets few big batches and a slow or busy one short row-lock
   * holds. Without it, every batch has batchSize rows.
   */
  targetBatchMs?: number
  /** Pause between batches. */
  pauseMs?: number
  /** Cap on updated rows per second. */
  rowsPerSecond?: number
  /** lock_timeout of each batch; a batch that times out is retried with backoff. */
  lockTimeoutMs: number
  /** statement_timeout of each batch (default 60 s). */
  statementTimeoutMs?: number
  /** Attempts per batch on lock timeout (default 8). */
  attempts?: number
  /**
   * The progress key in bluegreen.backfills (default: derived from table, set, where and key, so
   * a backfill is known by what it does, never by its place in a plan).
   */
  name?: string
  /** Settings for each batch's transaction (SET LOCAL), e.g. to tell sync triggers a backfill writes. */
  settings?: Record<string, string>
  /** Stops after the current batch (throws INTERRUPTED; the progress is saved). */
  signal?: AbortSignal
  /** After each batch; a promise it returns is awaited before the next. */
  onProgress?: (progress: BackfillProgress) => unknown
  onRetry?: (info: RetryInfo) => void
}

export interface BackfillProgress {
  /** Rows updated so far, earlier runs included. */
  done: number
  /** Estimated rows in all (done + still to do). */
  total: number
  /** Rows per second in this run. */
  rate: number
  /** Estimated time left. */
  etaMs: number
  /** Batches so far, earlier runs included. */
  batches: number
}

export interface BackfillResult {
  /** Rows updated by this run. */
  rows: number
  /** Batches run by this run. */
  batches: number
  /** The longest time one batch's transaction held its row locks. */
  maxBatchMs: number
  /** Whether an earlier run had already finished some ranges. */
  resumed: boolean
}

export interface KeyColumn {
  name: string
  type: string
}

interface Progress {
  lastKey: string[] | null
  rowsDone: number
  batches: number
  finished: boolean
}

/** Runs (or resumes) a backfill; see the file comment. */
export async function backfill(target: Client | string, options: BackfillOptions): Promise<BackfillResult> {
  if (typeof target === 'string')
    return withClient(target, async (client) => {
      await offSessionLimits(client, idleLimits)
      return backfill(client, options)
    })
  const client = target
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `batchSize must be a positive integer, not ${options.batchSize}`,
      hint: 'e.g. batchSize: 1000',
    })
  }
  await ensureStateSchema(client)
  const table = await resolveTable(client, options.table)
  const key = await keyColumns(client, table, options)
  const name = options.name ?? defaultName(table.name, options, key)
  let progress = await startProgress(client, name, table.name, key)
  const q = new BatchSql(table.name, key, options)
  if (progress.finished) {
    // Done once is not done for good: rows the old version wrote since (during a rollback, say)
    // match `where` again. Skip only when no row does; otherwise walk the table again.
    if (!(await failAs(name, () => anyRowLeft(client, q))))
      return { rows: 0, batches: 0, maxBatchMs: 0, resumed: true }
    progress = await restartProgress(client, name)
  }

  const remaining = await estimateRemaining(client, table, q, progress.lastKey, options)
  const startedAt = performance.now()
  const resumed = progress.lastKey !== null
  const result: BackfillResult = { rows: 0, batches: 0, maxBatchMs: 0, resumed }
  const policy = { ...defaultRetryPolicy, attempts: options.attempts ?? defaultRetryPolicy.attempts }
  const statements = { first: q.batch(true), next: q.batch(false) }
  let size = options.batchSize

  const restore = await sessionSettings(client, name, {
    lock_timeout: `${Math.round(options.lockTimeoutMs)}ms`,
    statement_timeout: `${Math.round(options.statementTimeoutMs ?? 60_000)}ms`,
    synchronous_commit: 'off',
    ...options.settings,
  })
  try {
    for (;;) {
      let lockHeldMs = 0
      const after = progress.lastKey
      const batch = await retryOnLockTimeout(
        policy,
        async () => {
          // One statement, one transaction, one round trip: row locks are taken by its UPDATE and
          // held until it commits, so this is the time they are held.
          const began = performance.now()
          const done = await failAs(name, () =>
            runBatch(client, after ? statements.next : statements.first, name, size, after),
          )
          lockHeldMs = performance.now() - began
          return done
        },
        { signal: options.signal, onRetry: options.onRetry },
      ).catch((error: unknown) => {
        if (!isLockTimeout(error)) throw error
        throw lockTimeoutError({
          what: `backfill ${name}`,
          attempts: policy.attempts,
          lockTimeoutMs: options.lockTimeoutMs,
          cause: error,
        })
      })

      result.rows += batch.updated
      result.batches++
      result.maxBatchMs = Math.max(result.maxBatchMs, Math.round(lockHeldMs))
      if (options.targetBatchMs)
        size = nextBatchSize(size, lockHeldMs, options.targetBatchMs, options.batchSize)
      progress = {
        lastKey: batch.lastKey ?? progress.lastKey,
        rowsDone: progress.rowsDone + batch.updated,
        batches: progress.batches + 1,
        // No key batchSize keys on: the walk reached the end of the table.
        finished: !batch.more,
      }
      const elapsedMs = performance.now() - startedAt
      const rate = elapsedMs > 0 ? (result.rows * 1000) / elapsedMs : 0
      const total = Math.max(progress.rowsDone, progress.rowsDone - result.rows + remaining)
      await options.onProgress?.({
        done: progress.rowsDone,
        total: progress.finished ? progress.rowsDone : total,
        rate,
        etaMs: progress.finished ? 0 : rate > 0 ? Math.round(((total - progress.rowsDone) * 1000) / rate) : 0,
        batches: progress.batches,
      })
      if (progress.finished) return result
      if (options.signal?.aborted) throw interrupted(name, progress)
      const throttleMs = options.rowsPerSecond
        ? (result.rows * 1000) / options.rowsPerSecond - (performance.now() - startedAt)
        : 0
      const waitMs = Math.max(options.pauseMs ?? 0, throttleMs)
      if (waitMs > 0) {
        await abortableSleep(waitMs, options.signal).catch(() => {
          throw interrupted(name, progress)
        })
      }
    }
  } finally {
    await restore().catch(() => {})
  }
}

/** The SQL of one backfill, with the key's comparisons and casts worked out once. */
class BatchSql {
  private readonly columns: string
  constructor(
    readonly table: string,
    private readonly key: KeyColumn[],
    private readonly options: Pick<BackfillOptions, 'set' | 'where'>,
  ) {
    this.columns = key.map((k) => quoteIdent(k.name)).join(', ')
  }

  /** `(a, b) > ($3::int, $4::uuid)`: keys after the saved position, numbering parameters from `first`. */
  private after(first: number): string {
    return `(${this.columns}) > (${this.key.map((k, i) => `$${first + i}::${k.type}`).join(', ')})`
  }

  /**
   * One batch as one statement, so one transaction and one round trip (a prepared statement,
   * planned once): find the key $2 (the batch size) keys after the saved position (or, near the end, the
   * last key), update the range (position, that key] where `where` still holds, and move the
   * saved position to that key, so the position commits with the rows it covers and a restart
   * never redoes them. Yields the rows updated, whether keys are left, and the new position.
   * $1 is the backfill's name, $2 the batch size, $3… the saved position (none for the first batch).
   *
   * The bound is found by skipping index entries (OFFSET), not by collecting and sorting the
   * batch's keys; the range is bounded by scalar subqueries (InitPlan parameters), so the UPDATE
   * is an index range scan, not a join; and a range stays right when the key is not unique.
   */
  batch(first: boolean): { name: string; text: string } {
    const from = first ? '' : `WHERE ${this.after(3)}`
    const descending = this.key.map((k) => `${quoteIdent(k.name)} DESC`).join(', ')
    const upTo = this.key.map((k) => `(SELECT ${quoteIdent(k.name)} FROM bound)`).join(', ')
    const conditions = [...(first ? [] : [this.after(3)]), `(${this.columns}) <= (${upTo})`]
    const boundAsText = this.key.map((k) => `${quoteIdent(k.name)}::text`).join(', ')
    const text = `WITH bound AS MATERIALIZED (
        (SELECT ${this.columns}, true AS bluegreen_more FROM ${this.table} ${from}
          ORDER BY ${this.columns} OFFSET $2::bigint - 1 LIMIT 1)
        UNION ALL
        (SELECT ${this.columns}, false FROM ${this.table} ${from} ORDER BY ${descending} LIMIT 1)
        LIMIT 1),
      batch AS (
        UPDATE ${this.table} SET ${this.options.set}
         WHERE ${conditions.join(' AND ')} AND (${this.options.where})
        RETURNING 1),
      counted AS (
        SELECT (SELECT count(*) FROM batch)::int AS updated,
               coalesce((SELECT bluegreen_more FROM bound), false) AS more,
               (SELECT ARRAY[${boundAsText}] FROM bound) AS last_key)
      UPDATE bluegreen.backfills
         SET last_key = coalesce(counted.last_key, backfills.last_key), rows_done = rows_done + counted.updated,
             batches = batches + 1, updated_at = now(), finished_at = CASE WHEN NOT counted.more THEN now() END
        FROM counted WHERE name = $1
      RETURNING counted.updated, counted.more, counted.last_key`
    const digest = createHash('sha256').update(text).digest('hex').slice(0, 16)
    return { name: `bluegreen_backfill_${digest}`, text }
  }

  /** Whether any row still matches `where`. */
  anyLeft(): string {
    return `SELECT EXISTS (SELECT 1 FROM ${this.table} WHERE (${this.options.where})) AS left`
  }

  /** Counts rows still to do in a sample of the table's pages ($1… the saved position). */
  estimate(after: string[] | null, percent: number): string {
    const range = after ? ` AND ${this.after(1)}` : ''
    return `SELECT count(*) FILTER (WHERE (${this.options.where})${range}) AS matching FROM ${this.table} TABLESAMPLE SYSTEM (${percent})`
  }
}

interface BatchDone {
  updated: number
  more: boolean
  lastKey: string[] | null
}

/** Runs one batch (a statement of its own, so a failed batch is rolled back by itself). */
async function runBatch(
  client: Client,
  statement: { name: string; text: string },
  name: string,
  size: number,
  after: string[] | null,
): Promise<BatchDone> {
  const { rows } = await client.query<{ updated: number; more: boolean; last_key: string[] | null }>({
    ...statement,
    values: [name, size, ...(after ?? [])],
  })
  const row = rows[0]
  if (!row) throw new Error('backfill: the progress row is missing (was bluegreen.backfills edited?)')
  return { updated: row.updated, more: row.more, lastKey: row.last_key }
}

/** The next batch's rows for `targetBatchMs`; see BackfillOptions. */
export function nextBatchSize(size: number, tookMs: number, targetMs: number, initial: number): number {
  const wanted = Math.round((size * targetMs) / Math.max(tookMs, 0.1))
  const bounded = Math.min(wanted, size * 2, initial * 20)
  return Math.max(1, Math.ceil(size / 4), bounded)
}

/**
 * Sets the backfill's settings for the session while it runs (each batch is one statement, so
 * SET LOCAL has no transaction to live in) and returns what puts the old values back.
 *
 * synchronous_commit is off for the batches: a batch's rows and its saved position commit
 * together, so a crash can only lose whole batches, which a rerun redoes; and no batch waits for
 * a WAL flush while it holds its row locks. The closing synchronous commit flushes them all.
 */
async function sessionSettings(
  client: Client,
  name: string,
  settings: Record<string, string>,
): Promise<() => Promise<void>> {
  const names = Object.keys(settings)
  for (const setting of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(setting))
      throw new Error(`backfill: not a setting name: ${setting}`)
  }
  const { rows } = await client.query<{ name: string; value: string | null }>(
    `SELECT s.name, current_setting(s.name, true) AS value, set_config(s.name, s.value, false)
       FROM unnest($1::text[], $2::text[]) AS s(name, value)`,
    [names, Object.values(settings)],
  )
  return async () => {
    for (const row of rows) {
      if (row.value === null) await client.query(`RESET ${row.name}`)
      else await client.query('SELECT set_config($1, $2, false)', [row.name, row.value])
    }
    await client.query('UPDATE bluegreen.backfills SET updated_at = now() WHERE name = $1', [name])
  }
}

/**
 * Rows still to do, counted in a sample of about 200 pages (every page of a small table): exact
 * enough for an ETA, cheap on a big table (the sample reads and tests its rows once more), and
 * independent of stale planner statistics.
 */
async function estimateRemaining(
  client: Client,
  table: { oid: number; name: string },
  q: BatchSql,
  after: string[] | null,
  options: BackfillOptions,
): Promise<number> {
  const { rows } = await client.query<{ pages: string }>(
    "SELECT pg_relation_size($1::oid) / current_setting('block_size')::bigint AS pages",
    [table.oid],
  )
  const pages = Math.max(1, Number(rows[0]?.pages ?? 1))
  const percent = Math.min(100, (100 * 200) / pages)
  const sample = await failAs(options.name ?? table.name, () =>
    client.query<{ matching: string }>(q.estimate(after, percent), after ?? []),
  )
  return Math.round((Number(sample.rows[0]?.matching ?? 0) * 100) / percent)
}

/** A table by name (as `to_regclass` reads it): its oid, quoted qualified name and schema. */
export async function findTable(
  client: Client,
  table: string,
): Promise<{ oid: number; name: string; schema: string } | undefined> {
  const { rows } = await client.query<{ oid: number; name: string; schema: string }>(
    `SELECT c.oid::int AS oid, format('%I.%I', n.nspname, c.relname) AS name, n.nspname AS schema
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1)`,
    [table],
  )
  return rows[0]
}

/** The primary key's columns, in key order (none: no primary key). */
export async function primaryKeyColumns(client: Client, oid: number): Promise<KeyColumn[]> {
  const { rows } = await client.query<KeyColumn>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::oid AND i.indisprimary
      ORDER BY k.ord`,
    [oid],
  )
  return rows
}

async function resolveTable(client: Client, table: string): Promise<{ oid: number; name: string }> {
  const found = await findTable(client, table)
  if (!found) {
    throw new BluegreenError({
      code: 'BACKFILL_FAILED',
      message: `backfill: table ${table} does not exist`,
      hint: 'check `table` of the backfill phase; the expand phase that creates its columns must run first',
    })
  }
  return found
}

async function keyColumns(
  client: Client,
  table: { oid: number; name: string },
  options: BackfillOptions,
): Promise<KeyColumn[]> {
  if (options.key) {
    const { rows } = await client.query<{ name: string; type: string }>(
      `SELECT k.name, format_type(a.atttypid, a.atttypmod) AS type
         FROM unnest($2::text[]) WITH ORDINALITY k(name, ord)
         LEFT JOIN pg_attribute a ON a.attrelid = $1::oid AND a.attname = k.name AND NOT a.attisdropped
        ORDER BY k.ord`,
      [table.oid, options.key],
    )
    const missing = rows.filter((r) => r.type === null).map((r) => r.name)
    if (missing.length > 0) {
      throw new BluegreenError({
        code: 'BACKFILL_FAILED',
        message: `backfill: ${table.name} has no column ${missing.join(', ')}`,
        hint: 'check `key` of the backfill phase',
      })
    }
    return rows
  }
  const rows = await primaryKeyColumns(client, table.oid)
  if (rows.length === 0) {
    throw new BluegreenError({
      code: 'BACKFILL_FAILED',
      message: `backfill: ${table.name} has no primary key to walk`,
      hint: 'give `key: [column, ...]`: indexed, NOT NULL columns (they need not be unique)',
    })
  }
  return rows
}

function defaultName(table: string, options: BackfillOptions, key: KeyColumn[]): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([options.set, options.where, key.map((k) => k.name)]))
    .digest('hex')
    .slice(0, 12)
  return `${table}:${digest}`
}

async function startProgress(
  client: Client,
  name: string,
  table: string,
  key: KeyColumn[],
): Promise<Progress> {
  const keyNames = key.map((k) => k.name)
  await client.query(
    `INSERT INTO bluegreen.backfills (name, table_name, key_columns) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO NOTHING`,
    [name, table, keyNames],
  )
  const { rows } = await client.query<{
    table_name: string
    key_columns: string[]
    last_key: string[] | null
    rows_done: string
    batches: number
    finished_at: Date | null
  }>(
    'SELECT table_name, key_columns, last_key, rows_done, batches, finished_at FROM bluegreen.backfills WHERE name = $1',
    [name],
  )
  const row = rows[0]
  if (row.table_name !== table || row.key_columns.join(',') !== keyNames.join(',')) {
    throw new BluegreenError({
      code: 'BACKFILL_FAILED',
      message: `backfill ${name} was started on ${row.table_name} (${row.key_columns.join(', ')}), not ${table} (${keyNames.join(', ')})`,
      hint: 'give this backfill another name, or delete its row from bluegreen.backfills to start over',
    })
  }
  return {
    lastKey: row.last_key,
    rowsDone: Number(row.rows_done),
    batches: row.batches,
    finished: row.finished_at !== null,
  }
}

async function anyRowLeft(client: Client, q: BatchSql): Promise<boolean> {
  const { rows } = await client.query<{ left: boolean }>(q.anyLeft())
  return rows[0]?.left ?? false
}

/** Starts a finished backfill over from the first key, keeping its counts. */
async function restartProgress(client: Client, name: string): Promise<Progress> {
  const { rows } = await client.query<{ rows_done: string; batches: number }>(
    `UPDATE bluegreen.backfills SET last_key = NULL, finished_at = NULL, updated_at = now()
      WHERE name = $1 RETURNING rows_done, batches`,
    [name],
  )
  return {
    lastKey: null,
    rowsDone: Number(rows[0]?.rows_done ?? 0),
    batches: rows[0]?.batches ?? 0,
    finished: false,
  }
}

/** Runs a query of the backfill; a PostgreSQL error (bad `set` or `where`) becomes BACKFILL_FAILED. */
async function failAs<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (isLockTimeout(error) || error instanceof BluegreenError) throw error
    throw new BluegreenError({
      code: 'BACKFILL_FAILED',
      message: `backfill ${name}: ${(error as Error).message}`,
      hint: 'check `set`, `where` and `key` of the backfill phase; finished batches are saved and a rerun continues after them',
      cause: error,
    })
  }
}

function interrupted(name: string, progress: Progress): BluegreenError {
  return new BluegreenError({
    code: 'INTERRUPTED',
    message: `backfill ${name} stopped after ${progress.batches} batches (${progress.rowsDone} rows); its progress is saved`,
    hint: 'run again (bluegreen release --resume): it continues after the last finished batch',
  })
}
