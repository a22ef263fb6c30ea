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
import type { QueryResult } from 'pg'
import { abortableSleep, isLockTimeout, quoteIdent, withClient, type Client } from './client.js'
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
  batchSize: number
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
  onProgress?: (progress: BackfillProgress) => void
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
  if (typeof target === 'string') return withClient(target, (client) => backfill(client, options))
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
  const q = new BatchSql(table.name, key, options, (value) => client.escapeLiteral(value))
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

  for (;;) {
    let lockHeldMs = 0
    const batch = await retryOnLockTimeout(
      policy,
      async () => {
        // The whole transaction in one round trip (simple protocol, values inlined as literals):
        // row locks are taken by its UPDATE and held until its COMMIT, so this is the time they are held.
        const began = performance.now()
        const done = await failAs(name, () => runBatch(client, q.transaction(progress.lastKey, name)))
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
    progress = {
      lastKey: batch.lastKey ?? progress.lastKey,
      rowsDone: progress.rowsDone + batch.updated,
      batches: progress.batches + 1,
      // Fewer keys than a batch: the walk reached the end of the table.
      finished: batch.scanned < options.batchSize,
    }
    const elapsedMs = performance.now() - startedAt
    const rate = elapsedMs > 0 ? (result.rows * 1000) / elapsedMs : 0
    const total = Math.max(progress.rowsDone, progress.rowsDone - result.rows + remaining)
    options.onProgress?.({
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
}

/** The SQL of one backfill, with the key's comparisons and casts worked out once. */
class BatchSql {
  private readonly columns: string
  constructor(
    readonly table: string,
    private readonly key: KeyColumn[],
    private readonly options: Pick<
      BackfillOptions,
      'set' | 'where' | 'batchSize' | 'lockTimeoutMs' | 'statementTimeoutMs' | 'settings'
    >,
    /** Quotes a string as an SQL literal (the client's escapeLiteral). */
    private readonly literal: (value: string) => string,
  ) {
    this.columns = key.map((k) => quoteIdent(k.name)).join(', ')
  }

  /** `(a, b) > ($1::int, $2::uuid)`, numbering parameters from `first`. */
  private compare(op: '>' | '<=', first: number): string {
    const params = this.key.map((k, i) => `$${first + i}::${k.type}`).join(', ')
    return `(${this.columns}) ${op} (${params})`
  }

  /**
   * One batch as one transaction, in one statement: take the next batchSize keys after `after`,
   * update the range (after, last of them] where `where` still holds, and move the saved
   * position to that last key, so the position commits with the rows it covers and a restart
   * never redoes them. Yields the rows updated, the keys scanned and the new last key.
   *
   * The range is bounded by scalar subqueries (InitPlan parameters), so the UPDATE is an index
   * range scan, not a join; and a range stays right when the key is not unique.
   */
  transaction(after: string[] | null, name: string): string {
    const from = after ? `WHERE ${this.compareLiteral('>', after)}` : ''
    const descending = this.key.map((k) => `${quoteIdent(k.name)} DESC`).join(', ')
    const upTo = this.key.map((k) => `(SELECT ${quoteIdent(k.name)} FROM last)`).join(', ')
    const conditions = [...(after ? [this.compareLiteral('>', after)] : []), `(${this.columns}) <= (${upTo})`]
    const lastAsText = this.key.map((k) => `${quoteIdent(k.name)}::text`).join(', ')
    const timeouts = [
      `SET LOCAL lock_timeout = '${Math.round(this.options.lockTimeoutMs)}ms'`,
      `SET LOCAL statement_timeout = '${Math.round(this.options.statementTimeoutMs ?? 60_000)}ms'`,
      ...Object.entries(this.options.settings ?? {}).map(
        ([setting, value]) => `SET LOCAL ${setting} = ${this.literal(value)}`,
      ),
    ]
    const batch = `WITH keys AS MATERIALIZED (
        SELECT ${this.columns} FROM ${this.table} ${from} ORDER BY ${this.columns} LIMIT ${this.options.batchSize}),
      last AS MATERIALIZED (SELECT ${this.columns} FROM keys ORDER BY ${descending} LIMIT 1),
      batch AS (
        UPDATE ${this.table} SET ${this.options.set}
         WHERE ${conditions.join(' AND ')} AND (${this.options.where})
        RETURNING 1),
      counted AS (
        SELECT (SELECT count(*) FROM batch)::int AS updated, (SELECT count(*) FROM keys)::int AS scanned,
               (SELECT ARRAY[${lastAsText}] FROM last) AS last_key)
      UPDATE bluegreen.backfills
         SET last_key = coalesce(counted.last_key, backfills.last_key), rows_done = rows_done + counted.updated,
             batches = batches + 1, updated_at = now(),
             finished_at = CASE WHEN counted.scanned < ${this.options.batchSize} THEN now() END
        FROM counted WHERE name = ${this.literal(name)}
      RETURNING counted.updated, counted.scanned, counted.last_key`
    return ['BEGIN', ...timeouts, batch, 'COMMIT'].join(';\n')
  }

  /** `(a, b) <= ('1'::int, 'x'::uuid)`, with the values quoted as literals. */
  private compareLiteral(op: '>' | '<=', values: string[]): string {
    const literals = this.key.map((k, i) => `${this.literal(values[i])}::${k.type}`).join(', ')
    return `(${this.columns}) ${op} (${literals})`
  }

  /** Whether any row still matches `where`. */
  anyLeft(): string {
    return `SELECT EXISTS (SELECT 1 FROM ${this.table} WHERE (${this.options.where})) AS left`
  }

  /** Counts rows still to do in a sample of the table's pages. */
  estimate(after: string[] | null, percent: number): string {
    const range = after ? ` AND ${this.compare('>', 1)}` : ''
    return `SELECT count(*) FILTER (WHERE (${this.options.where})${range}) AS matching FROM ${this.table} TABLESAMPLE SYSTEM (${percent})`
  }
}

interface BatchDone {
  updated: number
  scanned: number
  lastKey: string[] | null
}

/** Runs a batch transaction; on any error the transaction is rolled back before it is thrown. */
async function runBatch(client: Client, sql: string): Promise<BatchDone> {
  try {
    // Several statements in one simple query: pg returns one result per statement.
    const results = (await client.query(sql)) as unknown as QueryResult<{
      updated: number
      scanned: number
      last_key: string[] | null
    }>[]
    const row = results.find((r) => r.command === 'UPDATE')?.rows[0]
    if (!row) throw new Error('backfill: the progress row is missing (was bluegreen.backfills edited?)')
    return { updated: row.updated, scanned: row.scanned, lastKey: row.last_key }
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}

/**
 * Rows still to do, counted in a sample of about 1000 pages (every page of a small table): exact
 * enough for an ETA, cheap on a huge table, and independent of stale planner statistics.
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
  const percent = Math.min(100, (100 * 1000) / pages)
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
