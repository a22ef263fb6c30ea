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
  isLockTimeout,
  quoteIdent,
  withClient,
  withTransaction,
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
  /** The progress key in bluegreen.backfills (default: derived from table, set, where and key). */
  name?: string
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

interface KeyColumn {
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
  if (progress.finished) return { rows: 0, batches: 0, maxBatchMs: 0, resumed: true }

  const q = new BatchSql(table.name, key, options)
  const remaining = await estimateRemaining(client, table, q, progress.lastKey, options)
  const startedAt = performance.now()
  const resumed = progress.lastKey !== null
  const result: BackfillResult = { rows: 0, batches: 0, maxBatchMs: 0, resumed }
  const policy = { ...defaultRetryPolicy, attempts: options.attempts ?? defaultRetryPolicy.attempts }

  for (;;) {
    const end = await failAs(name, () => endOfNextBatch(client, q, progress.lastKey))
    let lockHeldMs = 0
    const updated = await retryOnLockTimeout(
      policy,
      async () => {
        let began = 0
        const rows = await withTransaction(client, async () => {
          await client.query(
            "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)",
            [`${options.lockTimeoutMs}ms`, `${options.statementTimeoutMs ?? 60_000}ms`],
          )
          // Row locks are taken by this UPDATE and held until COMMIT: that is the time measured.
          began = performance.now()
          const { rowCount } = await failAs(name, () =>
            client.query(q.update(progress.lastKey, end), [...(progress.lastKey ?? []), ...(end ?? [])]),
          )
          // The new position commits with the rows it covers, so a restart never redoes them.
          await client.query(
            `UPDATE bluegreen.backfills SET last_key = $2, rows_done = rows_done + $3, batches = batches + 1,
                    updated_at = now(), finished_at = CASE WHEN $4 THEN now() END
              WHERE name = $1`,
            [name, end ?? progress.lastKey, rowCount ?? 0, end === null],
          )
          return rowCount ?? 0
        })
        lockHeldMs = performance.now() - began
        return rows
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

    result.rows += updated
    result.batches++
    result.maxBatchMs = Math.max(result.maxBatchMs, Math.round(lockHeldMs))
    progress = {
      lastKey: end ?? progress.lastKey,
      rowsDone: progress.rowsDone + updated,
      batches: progress.batches + 1,
      finished: end === null,
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
    private readonly options: Pick<BackfillOptions, 'set' | 'where' | 'batchSize'>,
  ) {
    this.columns = key.map((k) => quoteIdent(k.name)).join(', ')
  }

  /** `(a, b) > ($1::int, $2::uuid)`, numbering parameters from `first`. */
  private compare(op: '>' | '<=', first: number): string {
    const params = this.key.map((k, i) => `$${first + i}::${k.type}`).join(', ')
    return `(${this.columns}) ${op} (${params})`
  }

  /** Finds the last key of the next batch: the batchSize-th key after `after`. */
  endOfBatch(after: string[] | null): string {
    // Aliased: an output column named like the key would make ORDER BY sort the text, not the key.
    const texts = this.key.map((k, i) => `${quoteIdent(k.name)}::text AS bluegreen_key_${i}`).join(', ')
    const where = after ? `WHERE ${this.compare('>', 1)}` : ''
    return `SELECT ${texts} FROM ${this.table} ${where} ORDER BY ${this.columns} LIMIT 1 OFFSET ${this.options.batchSize - 1}`
  }

  /** Updates the range (after, end]; no end means "to the end of the table". */
  update(after: string[] | null, end: string[] | null): string {
    const conditions: string[] = []
    if (after) conditions.push(this.compare('>', 1))
    if (end) conditions.push(this.compare('<=', (after?.length ?? 0) + 1))
    conditions.push(`(${this.options.where})`)
    return `UPDATE ${this.table} SET ${this.options.set} WHERE ${conditions.join(' AND ')}`
  }

  /** Counts rows still to do in a sample of the table's pages. */
  estimate(after: string[] | null, percent: number): string {
    const range = after ? ` AND ${this.compare('>', 1)}` : ''
    return `SELECT count(*) FILTER (WHERE (${this.options.where})${range}) AS matching FROM ${this.table} TABLESAMPLE SYSTEM (${percent})`
  }
}

async function endOfNextBatch(client: Client, q: BatchSql, after: string[] | null): Promise<string[] | null> {
  const { rows } = await client.query<string[]>({
    text: q.endOfBatch(after),
    values: after ?? [],
    rowMode: 'array',
  })
  return rows[0] ?? null
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

async function resolveTable(client: Client, table: string): Promise<{ oid: number; name: string }> {
  const { rows } = await client.query<{ oid: number; name: string }>(
    `SELECT c.oid::int AS oid, format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1)`,
    [table],
  )
  if (!rows[0]) {
    throw new BluegreenError({
      code: 'BACKFILL_FAILED',
      message: `backfill: table ${table} does not exist`,
      hint: 'check `table` of the backfill phase; the expand phase that creates its columns must run first',
    })
  }
  return rows[0]
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
  const { rows } = await client.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1::oid AND i.indisprimary
      ORDER BY k.ord`,
    [table.oid],
  )
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
