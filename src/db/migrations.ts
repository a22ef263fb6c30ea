/**
 * The migration runner. Applies the .sql files of a directory in file-name order and records
 * each in `bluegreen.migrations`; an applied file is skipped by checksum, and an applied file that
 * changed is refused. Each file runs in one transaction, except statements PostgreSQL refuses in
 * one (CREATE INDEX CONCURRENTLY …), which run alone; progress is recorded after each part, so
 * a rerun resumes where a failure stopped.
 *
 * Every attempt runs under lock_timeout: a migration that waits for a lock makes every later
 * query on the table queue behind it, so it waits at most lock_timeout, steps aside, and retries
 * with backoff (see lock-retry.ts). lock_timeout is per statement: in a file whose statements
 * lock several tables, a later statement's wait also holds the earlier statements' locks, so
 * keep one table's lock-taking changes per file.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BluegreenError } from '../errors.js'
import { listMigrationFiles } from './migration-files.js'
import { isLockTimeout, sqlStateOf, withAdvisoryLock, withTransaction, type Client } from './client.js'
import { lintStatements, type Finding, type MigrationPhase } from './lint/index.js'
import { defaultRetryPolicy, lockTimeoutError, retryOnLockTimeout, type RetryPolicy } from './lock-retry.js'
import { parseSqlFile, type SqlStatement } from './sql-file.js'
import { ensureStateSchema, stateSchemaExists } from './state-schema.js'

export type { MigrationPhase } from './lint/index.js'

export interface MigrationFile {
  /** The file name, e.g. `002_add_email.sql`. */
  file: string
  /** Where the file really is, symlinks followed. */
  realPath: string
  /** sha256 of the content, line endings normalized to \n. */
  checksum: string
  sql: string
}

export interface AppliedMigration {
  app: string
  phase: MigrationPhase
  file: string
  checksum: string
  release: string
  appliedAt: Date
  durationMs: number
}

export type MigrationEvent =
  | { type: 'migration.wait'; phase: MigrationPhase; reason: string }
  | { type: 'migration.skip'; phase: MigrationPhase; file: string }
  | { type: 'migration.warning'; phase: MigrationPhase; file: string; finding: Finding }
  | { type: 'migration.apply'; phase: MigrationPhase; file: string; statements: number; resumeAt: number }
  | { type: 'migration.cleanup'; phase: MigrationPhase; file: string; line: number; index: string }
  | {
      type: 'migration.retry'
      phase: MigrationPhase
      file: string
      line: number
      attempt: number
      attempts: number
      delayMs: number
      reason: string
    }
  | { type: 'migration.done'; phase: MigrationPhase; file: string; ms: number; retries: number }

export interface ApplyMigrationsOptions {
  dir: string
  phase: MigrationPhase
  /** Recorded with each applied file. */
  release: string
  app: string
  /** lock_timeout of every attempt. */
  lockTimeoutMs: number
  /** statement_timeout of every statement. */
  statementTimeoutMs: number
  /** Attempts per part of a file on lock timeout (default 8). */
  attempts?: number
  /** First pause between attempts (default 200 ms), doubling up to `maxDelayMs` (default 10 s). */
  baseDelayMs?: number
  maxDelayMs?: number
  /** Apply only these file names (in file-name order). */
  files?: string[]
  /** Checksums the files must still have (e.g. as recorded in the contract ledger). */
  expectedChecksums?: Record<string, string>
  /** Refuse files the linter flags with an error (default: true for expand, false for contract). */
  lint?: boolean
  signal?: AbortSignal
  onEvent?: (event: MigrationEvent) => void
}

/**
 * The .sql files of a directory (not its subdirectories), in file-name order, read. Which files
 * those are is decided by `listMigrationFiles`, which `bluegreen lint` and the plan check share.
 */
export async function listMigrations(dir: string): Promise<MigrationFile[]> {
  const files: MigrationFile[] = []
  for (const { file, realPath } of await listMigrationFiles(dir)) {
    const sql = (await readFile(realPath, 'utf8')).replace(/^\uFEFF/, '').replace(/\r\n/g, '\n')
    files.push({ file, realPath, checksum: createHash('sha256').update(sql).digest('hex'), sql })
  }
  return files
}

/** Fully applied migrations, oldest first (all apps unless `app` is given). */
export async function appliedMigrations(client: Client, app?: string): Promise<AppliedMigration[]> {
  if (!(await stateSchemaExists(client))) return []
  const { rows } = await client.query<{
    app: string
    phase: MigrationPhase
    file: string
    checksum: string
    release: string
    applied_at: Date
    duration_ms: number
  }>(
    `SELECT app, phase, file, checksum, release, applied_at, duration_ms FROM bluegreen.migrations
     WHERE applied_at IS NOT NULL AND ($1::text IS NULL OR app = $1) ORDER BY applied_at, phase, file`,
    [app ?? null],
  )
  return rows.map((r) => ({
    app: r.app,
    phase: r.phase,
    file: r.file,
    checksum: r.checksum,
    release: r.release,
    appliedAt: r.applied_at,
    durationMs: r.duration_ms,
  }))
}

/** Applies the directory's pending migrations; see the file comment. */
export async function applyMigrations(
  client: Client,
  options: ApplyMigrationsOptions,
): Promise<{ applied: string[]; skipped: string[] }> {
  const { dir, phase, app, signal } = options
  const emit = options.onEvent ?? (() => {})
  const policy: RetryPolicy = {
    attempts: options.attempts ?? defaultRetryPolicy.attempts,
    baseDelayMs: options.baseDelayMs ?? defaultRetryPolicy.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? defaultRetryPolicy.maxDelayMs,
  }
  await ensureStateSchema(client)
  const selected = selectFiles(await listMigrations(dir), options)

  // One runner per app and phase at a time; a second one waits, then finds the files applied.
  return withAdvisoryLock(
    client,
    `bluegreen:migrations:${app}:${phase}`,
    async () => {
      const records = await migrationRecords(client, app, phase)
      const skipped: string[] = []
      const pending: PendingFile[] = []
      for (const migration of selected) {
        const path = join(dir, migration.file)
        const record = records.get(migration.file)
        if (record?.appliedAt) {
          if (record.checksum !== migration.checksum) throw changedError(path, record)
          skipped.push(migration.file)
          emit({ type: 'migration.skip', phase, file: migration.file })
          continue
        }
        const { statements } = await parseSqlFile(migration.sql, path)
        // A partly applied file may be fixed after its committed statements, not before.
        if (record && committedChecksum(statements, record.statementsDone) !== record.committedChecksum) {
          throw changedError(path, record)
        }
        pending.push({ ...migration, path, statements, statementsDone: record?.statementsDone ?? 0 })
      }
      refuseTransactionControl(pending)
      if (options.lint ?? phase === 'expand') lintOrRefuse(pending, phase, emit)

      const applied: string[] = []
      for (const file of pending) {
        if (signal?.aborted) throw interrupted(applied)
        await applyFile(client, file, options, policy, emit)
        applied.push(file.file)
      }
      return { applied, skipped }
    },
    {
      signal,
      onWait: () => emit({ type: 'migration.wait', phase, reason: 'another runner is applying migrations' }),
    },
  )
}

interface PendingFile extends MigrationFile {
  path: string
  statements: SqlStatement[]
  /** Statements committed by an earlier, interrupted run. */
  statementsDone: number
}

interface MigrationRecord {
  checksum: string
  committedChecksum: string
  release: string
  statementsDone: number
  appliedAt?: Date
}

async function migrationRecords(
  client: Client,
  app: string,
  phase: MigrationPhase,
): Promise<Map<string, MigrationRecord>> {
  const { rows } = await client.query<{
    file: string
    checksum: string
    committed_checksum: string
    release: string
    statements_done: number
    applied_at: Date | null
  }>(
    `SELECT file, checksum, committed_checksum, release, statements_done, applied_at
       FROM bluegreen.migrations WHERE app = $1 AND phase = $2`,
    [app, phase],
  )
  return new Map(
    rows.map((r) => [
      r.file,
      {
        checksum: r.checksum,
        committedChecksum: r.committed_checksum,
        release: r.release,
        statementsDone: r.statements_done,
        appliedAt: r.applied_at ?? undefined,
      },
    ]),
  )
}

function selectFiles(all: MigrationFile[], options: ApplyMigrationsOptions): MigrationFile[] {
  const wanted = options.files
  const selected = wanted ? all.filter((m) => wanted.includes(m.file)) : all
  const missing = (wanted ?? []).filter((file) => !all.some((m) => m.file === file))
  if (missing.length > 0) {
    throw new BluegreenError({
      code: 'MIGRATION_CHANGED',
      message: `migration ${missing.map((f) => join(options.dir, f)).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing`,
      hint: 'restore the file: it was recorded to run, and the database expects it',
    })
  }
  for (const migration of selected) {
    const expected = options.expectedChecksums?.[migration.file]
    if (expected !== undefined && expected !== migration.checksum) {
      throw new BluegreenError({
        code: 'MIGRATION_CHANGED',
        message: `migration ${join(options.dir, migration.file)} has changed since it was recorded`,
        details: [`recorded checksum ${expected}`, `current checksum  ${migration.checksum}`],
        hint: 'revert the edit; put further changes in a new migration file',
      })
    }
  }
  return selected
}

function changedError(path: string, record: MigrationRecord): BluegreenError {
  const state = record.appliedAt
    ? `was applied by release ${record.release} at ${record.appliedAt.toISOString()}`
    : `was partly applied by release ${record.release} (its first ${record.statementsDone} statements are committed)`
  return new BluegreenError({
    code: 'MIGRATION_CHANGED',
    message: `migration ${path} ${state} and has changed since`,
    details: [`recorded checksum ${record.checksum}`],
    hint: record.appliedAt
      ? 'applied migrations cannot change: revert the edit, and put the change in a new migration file'
      : 'its committed statements cannot change: revert the edit to them (the statements after them may still be fixed)',
  })
}

function refuseTransactionControl(files: PendingFile[]): void {
  for (const file of files) {
    const statement = file.statements.find((s) => 'TransactionStmt' in s.node)
    if (!statement) continue
    throw new BluegreenError({
      code: 'MIGRATION_FAILED',
      message: `${file.path}:${statement.start.line}:${statement.start.column}: ${firstLine(statement.text)} is not allowed in a migration`,
      hint: 'remove BEGIN/COMMIT: each file runs in one transaction, and statements that cannot (CREATE INDEX CONCURRENTLY …) are detected and run alone',
    })
  }
}

function lintOrRefuse(
  files: PendingFile[],
  phase: MigrationPhase,
  emit: (event: MigrationEvent) => void,
): void {
  const errors: Finding[] = []
  for (const file of files) {
    for (const finding of lintStatements(file.statements, file.path, phase)) {
      if (finding.severity === 'error') errors.push(finding)
      else emit({ type: 'migration.warning', phase, file: file.file, finding })
    }
  }
  if (errors.length === 0) return
  throw new BluegreenError({
    code: 'UNSAFE_MIGRATION',
    message: `${errors.length} unsafe change${errors.length === 1 ? '' : 's'} in the ${phase} migrations; nothing was applied`,
    details: errors.map(
      (f) => `${f.file}:${f.line}:${f.column}: ${f.rule} ${f.message} (instead: ${f.hint})`,
    ),
    hint: `make each change the expand/contract way (run \`bluegreen lint --phase ${phase}\` for details); if you have checked that one is safe, put \`-- bluegreen:allow RULE_ID reason\` directly above it`,
  })
}

/** Consecutive statements that run in one transaction, or one statement that must run alone. */
interface Part {
  statements: SqlStatement[]
  outsideTransaction: boolean
  /** Statements of the file done once this part commits. */
  end: number
}

/** Splits the statements from `from` on into parts (the ones before it are committed already). */
function partsOf(statements: SqlStatement[], from: number): Part[] {
  const parts: Part[] = []
  for (let i = from; i < statements.length; i++) {
    const statement = statements[i]
    const last = parts.at(-1)
    if (statement.outsideTransaction || !last || last.outsideTransaction) {
      parts.push({ statements: [statement], outsideTransaction: statement.outsideTransaction, end: i + 1 })
    } else {
      last.statements.push(statement)
      last.end = i + 1
    }
  }
  return parts
}

async function applyFile(
  client: Client,
  file: PendingFile,
  options: ApplyMigrationsOptions,
  policy: RetryPolicy,
  emit: (event: MigrationEvent) => void,
): Promise<void> {
  const { phase } = options
  const started = performance.now()
  const parts = partsOf(file.statements, file.statementsDone)
  let retries = 0
  let current: SqlStatement | undefined
  emit({
    type: 'migration.apply',
    phase,
    file: file.file,
    statements: file.statements.length,
    resumeAt: file.statementsDone,
  })

  const run = async (statement: SqlStatement): Promise<void> => {
    current = statement
    try {
      await client.query(statement.text)
    } catch (error) {
      if (isLockTimeout(error)) throw error
      throw statementError(file, statement, error, options)
    }
  }
  const record = (statementsDone: number, finished: boolean) =>
    recordProgress(
      client,
      options,
      file,
      statementsDone,
      finished ? Math.round(performance.now() - started) : null,
    )
  const retry = <T>(attempt: (n: number) => Promise<T>) =>
    retryOnLockTimeout(policy, attempt, {
      signal: options.signal,
      onRetry: (info) => {
        retries++
        emit({ type: 'migration.retry', phase, file: file.file, line: current?.start.line ?? 1, ...info })
      },
    }).catch((error: unknown) => {
      if (!isLockTimeout(error)) throw error
      const at = current?.start ?? { line: 1, column: 1 }
      throw lockTimeoutError({
        what: `${file.path}:${at.line}:${at.column}`,
        attempts: policy.attempts,
        lockTimeoutMs: options.lockTimeoutMs,
        cause: error,
      })
    })

  // A file of comments only, or one whose last statement committed before a crash.
  if (parts.length === 0) await record(file.statements.length, true)
  for (const part of parts) {
    const last = part === parts.at(-1)
    if (part.outsideTransaction) {
      const statement = part.statements[0]
      await retry(async () => {
        await dropInvalidIndex(client, statement, options, (index) =>
          emit({ type: 'migration.cleanup', phase, file: file.file, line: statement.start.line, index }),
        )
        await withSessionTimeouts(client, options, () => run(statement))
      })
      await record(part.end, last)
    } else {
      await retry(() =>
        withTransaction(
          client,
          async () => {
            for (const statement of part.statements) await run(statement)
            // In the same transaction as the statements: recorded if and only if they committed.
            await record(part.end, last)
          },
          {
            lock_timeout: `${options.lockTimeoutMs}ms`,
            statement_timeout: `${options.statementTimeoutMs}ms`,
          },
        ),
      )
    }
  }
  emit({
    type: 'migration.done',
    phase,
    file: file.file,
    ms: Math.round(performance.now() - started),
    retries,
  })
}

async function recordProgress(
  client: Client,
  options: ApplyMigrationsOptions,
  file: PendingFile,
  statementsDone: number,
  durationMs: number | null,
): Promise<void> {
  await client.query(
    `INSERT INTO bluegreen.migrations
       (app, phase, file, checksum, committed_checksum, release, statements_done, applied_at, duration_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8::integer IS NULL THEN NULL ELSE clock_timestamp() END, $8)
     ON CONFLICT (app, phase, file) DO UPDATE SET checksum = EXCLUDED.checksum,
       committed_checksum = EXCLUDED.committed_checksum, statements_done = EXCLUDED.statements_done,
       applied_at = EXCLUDED.applied_at, duration_ms = EXCLUDED.duration_ms, release = EXCLUDED.release`,
    [
      options.app,
      options.phase,
      file.file,
      file.checksum,
      committedChecksum(file.statements, statementsDone),
      options.release,
      statementsDone,
      durationMs,
    ],
  )
}

/** sha256 of the first `count` statements' text: what a partly applied file has committed. */
function committedChecksum(statements: SqlStatement[], count: number): string {
  const hash = createHash('sha256')
  for (const statement of statements.slice(0, count)) hash.update(statement.text).update('\0')
  return hash.digest('hex')
}

/** Timeouts for a statement that runs outside a transaction; the session's own values come back after. */
async function withSessionTimeouts(
  client: Client,
  options: ApplyMigrationsOptions,
  fn: () => Promise<void>,
): Promise<void> {
  const { rows } = await client.query<{ lock: string; statement: string }>(
    "SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement",
  )
  const previous = rows[0]
  await client.query(
    "SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)",
    [`${options.lockTimeoutMs}ms`, `${options.statementTimeoutMs}ms`],
  )
  try {
    await fn()
  } finally {
    await client
      .query("SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)", [
        previous.lock,
        previous.statement,
      ])
      .catch(() => {})
  }
}

/**
 * A CREATE INDEX CONCURRENTLY that failed (a lock timeout, a crash) leaves an INVALID index
 * behind: the retry would fail with "already exists", or skip it under IF NOT EXISTS and leave
 * a useless index that still slows every write. So drop it before each attempt.
 */
async function dropInvalidIndex(
  client: Client,
  statement: SqlStatement,
  options: ApplyMigrationsOptions,
  onDrop: (index: string) => void,
): Promise<void> {
  if (!('IndexStmt' in statement.node)) return
  const { idxname, relation } = statement.node.IndexStmt
  if (!idxname) return
  const { rows } = await client.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = $1 AND NOT i.indisvalid AND n.nspname = coalesce($2, current_schema())`,
    [idxname, relation?.schemaname ?? null],
  )
  const name = rows[0]?.name
  if (!name) return
  onDrop(name)
  await withSessionTimeouts(client, options, async () => {
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`)
  })
}

function statementError(
  file: PendingFile,
  statement: SqlStatement,
  error: unknown,
  options: ApplyMigrationsOptions,
): BluegreenError {
  const pg = error as { message?: string; position?: string; detail?: string; hint?: string; where?: string }
  // PostgreSQL's position is 1-based, in characters of the statement sent.
  const at = pg.position ? statement.positionInText(Number(pg.position) - 1) : statement.start
  const details: string[] = []
  if (pg.detail) details.push(`DETAIL: ${pg.detail}`)
  if (pg.hint) details.push(`HINT: ${pg.hint}`)
  if (pg.where) details.push(`CONTEXT: ${pg.where}`)
  details.push(`statement: ${firstLine(statement.text)}`)
  // Earlier parts of the file committed if a statement that runs alone separates them from this one.
  const committed =
    file.statementsDone > 0 ||
    file.statements.some(
      (s) => s.index < statement.index && (s.outsideTransaction || statement.outsideTransaction),
    )
  const timedOut = sqlStateOf(error) === '57014'
  return new BluegreenError({
    code: 'MIGRATION_FAILED',
    message: `${file.path}:${at.line}:${at.column}: ${pg.message ?? String(error)}`,
    details,
    hint: timedOut
      ? `the statement ran longer than statement_timeout (${options.statementTimeoutMs} ms): raise database.statementTimeout or make the statement cheaper`
      : committed
        ? 'fix the statement and run again: the parts of the file before it are committed and recorded, and the run resumes after them'
        : 'fix the statement and run again: nothing of this file was committed',
    cause: error,
  })
}

function firstLine(text: string): string {
  const line = text.split('\n')[0].trim()
  return line.length > 100 ? `${line.slice(0, 97)}...` : line
}

function interrupted(applied: string[]): BluegreenError {
  return new BluegreenError({
    code: 'INTERRUPTED',
    message: `interrupted after ${applied.length} migration${applied.length === 1 ? '' : 's'}`,
    hint: 'run again: applied files are recorded and skipped',
  })
}
