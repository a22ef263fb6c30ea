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
import type { IndexStmt, Node, RangeVar } from 'libpg-query'
import {
  abortableSleep,
  isLockTimeout,
  sqlStateOf,
  withAdvisoryLock,
  withTransaction,
  type Client,
} from './client.js'
import {
  lintStatements,
  SchemaKnowledge,
  type Finding,
  type MigrationPhase,
  type RuleLevels,
} from './lint/index.js'
import { defaultRetryPolicy, lockTimeoutError, retryOnLockTimeout, type RetryPolicy } from './lock-retry.js'
import { parseSqlFile, type SqlStatement } from './sql-file.js'
import { notNullColumns } from './lint/context.js'
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
  | {
      type: 'migration.cleanup'
      phase: MigrationPhase
      file: string
      line: number
      index: string
      /** What an interrupted earlier build left: dropped (invalid), or kept (built, unrecorded). */
      action: 'dropped' | 'kept'
    }
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
  /** The rule levels for a file (the plan's `lint:` section), by the file's path. */
  lintLevels?: (file: string) => RuleLevels
  signal?: AbortSignal
  onEvent?: (event: MigrationEvent) => void
  /**
   * Runs once, in the transaction of the first statements applied (its own transaction when
   * those cannot run in one, or when no file is pending): a contract drops its sync triggers
   * there, so no write falls between the drop and the SQL.
   */
  prelude?: (client: Client) => Promise<void>
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
      if (options.lint ?? phase === 'expand')
        lintOrRefuse(pending, phase, await catalogKnowledge(client, pending), options.lintLevels, emit)

      const applied: string[] = []
      const prelude = { run: options.prelude }
      for (const file of pending) {
        if (signal?.aborted) throw interrupted(applied)
        await applyFile(client, file, options, policy, emit, prelude)
        applied.push(file.file)
      }
      if (prelude.run) await withTransaction(client, () => prelude.run!(client))
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
      hint: 'remove BEGIN/COMMIT: each file runs in one transaction (plain BEGIN … COMMIT blocks are read as the transactions they mark), and statements that cannot (CREATE INDEX CONCURRENTLY …) are detected and run alone',
    })
  }
}

function lintOrRefuse(
  files: PendingFile[],
  phase: MigrationPhase,
  knowledge: SchemaKnowledge,
  levels: ((file: string) => RuleLevels) | undefined,
  emit: (event: MigrationEvent) => void,
): void {
  const errors: Finding[] = []
  for (const file of files) {
    const options = { knowledge, levels: levels?.(file.path) }
    for (const finding of lintStatements(file.statements, file.path, phase, options)) {
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

/**
 * What the live catalog says of the columns that the pending files change the type of or make
 * NOT NULL: their types, and whether NOT NULL or a CHECK (col IS NOT NULL) covers them. With it
 * the linter tells a widening (varchar(50) to varchar(100)) from a rewrite, and a SET NOT NULL
 * PostgreSQL proves from a validated constraint from one that scans, where the file cannot tell.
 * Keys are as the linter reads the file's names (an unqualified name is public's); the tables
 * are found as the migration's own session will find them.
 */
async function catalogKnowledge(client: Client, files: PendingFile[]): Promise<SchemaKnowledge> {
  // The pending files run one after another before the new version starts: what one creates is
  // new to the next.
  const knowledge = new SchemaKnowledge({ appliedTogether: true })
  const tables = new Map<string, string>()
  // What the linter cannot tell from the files: the old types of columns whose type changes, what
  // proves a column NOT NULL (SET NOT NULL, DROP DEFAULT, a PRIMARY KEY USING INDEX), and whether a
  // CREATE TABLE IF NOT EXISTS finds a table that is there.
  // And the keys of the tables an UPDATE or DELETE filters: one pinned to a key is quick, even
  // under a lock an earlier statement of its transaction took.
  const readFor = new Set(['AT_AlterColumnType', 'AT_SetNotNull', 'AT_ColumnDefault', 'AT_AddConstraint'])
  const keyed = new Set<string>()
  const read = (relation: RangeVar | undefined, forKeys = false) => {
    const name = relationName(relation)
    if (!name || !relation?.relname) return
    tables.set(name, `${relation.schemaname ?? 'public'}.${relation.relname}`)
    if (forKeys) keyed.add(name)
  }
  for (const { statements } of files) {
    for (const { node } of statements) {
      if ('CreateStmt' in node && node.CreateStmt.if_not_exists) read(node.CreateStmt.relation)
      if ('UpdateStmt' in node && node.UpdateStmt.whereClause) read(node.UpdateStmt.relation, true)
      if ('DeleteStmt' in node && node.DeleteStmt.whereClause) read(node.DeleteStmt.relation, true)
      if (!('AlterTableStmt' in node)) continue
      const { relation, cmds } = node.AlterTableStmt
      const wanted = (cmds ?? []).some(
        (c) => 'AlterTableCmd' in c && readFor.has(c.AlterTableCmd.subtype ?? ''),
      )
      if (wanted) read(relation)
    }
  }
  if (tables.size === 0) return knowledge
  const names = [...tables.keys()]
  // A key picks one row: the only column of a primary key or of a unique index over every row (a
  // partial one leaves the rows outside its predicate free to repeat the value).
  // Read only when a file filters an UPDATE or DELETE: no round trip for the other files.
  const { rows: keys } =
    keyed.size === 0
      ? { rows: [] }
      : await client.query<{ name: string; column: string }>(
          `SELECT r.name, a.attname AS column
             FROM unnest($1::text[]) AS r(name)
             JOIN pg_index i ON i.indrelid = to_regclass(r.name) AND i.indisunique AND i.indnkeyatts = 1
                  AND i.indpred IS NULL AND i.indexprs IS NULL
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]`,
          [[...keyed]],
        )
  for (const row of keys) knowledge.recordKey(tables.get(row.name)!, row.column)
  const { rows: columns } = await client.query<{
    name: string
    column: string
    type: string
    typmod: number
    array: boolean
    not_null: boolean
  }>(
    `SELECT r.name, a.attname AS column, coalesce(e.typname, t.typname) AS type, a.atttypmod AS typmod,
            e.oid IS NOT NULL AS array, a.attnotnull AS not_null
       FROM unnest($1::text[]) AS r(name)
       JOIN pg_attribute a ON a.attrelid = to_regclass(r.name) AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_type e ON t.typcategory = 'A' AND e.oid = t.typelem`,
    [names],
  )
  for (const row of columns) {
    const table = tables.get(row.name)!
    knowledge.recordTable(table)
    const type = { name: row.type, mods: typeMods(row.type, row.typmod), array: row.array }
    knowledge.setColumnType(table, row.column, type)
    if (row.not_null) knowledge.recordProvenNotNull(table, row.column)
  }
  const { rows: checks } = await client.query<{
    name: string
    constraint: string
    definition: string
    validated: boolean
  }>(
    `SELECT r.name, c.conname AS constraint, pg_get_constraintdef(c.oid) AS definition, c.convalidated AS validated
       FROM unnest($1::text[]) AS r(name)
       JOIN pg_constraint c ON c.conrelid = to_regclass(r.name) AND c.contype = 'c'`,
    [names],
  )
  for (const row of checks) {
    const columns = notNullColumns(await checkExpression(row.definition))
    if (columns.length > 0)
      knowledge.recordNotNullCheck(tables.get(row.name)!, row.constraint, columns, row.validated)
  }
  return knowledge
}

/** The expression of a CHECK constraint from its pg_get_constraintdef, read by PostgreSQL's grammar. */
async function checkExpression(definition: string): Promise<Node | undefined> {
  const parsed = await parseSqlFile(
    `ALTER TABLE t ADD CONSTRAINT c ${definition}`,
    'pg_get_constraintdef',
  ).catch(() => undefined)
  const node = parsed?.statements[0]?.node
  const cmd = node && 'AlterTableStmt' in node ? node.AlterTableStmt.cmds?.[0] : undefined
  const def = cmd && 'AlterTableCmd' in cmd ? cmd.AlterTableCmd.def : undefined
  return def && 'Constraint' in def ? def.Constraint.raw_expr : undefined
}

/** A catalog type modifier (atttypmod) as the modifiers written in SQL: varchar(150) is [150]. */
function typeMods(type: string, typmod: number): number[] {
  if (typmod < 0) return []
  switch (type) {
    case 'varchar':
    case 'bpchar':
      return [typmod - 4]
    case 'numeric':
      return [((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff]
    case 'interval':
      return (typmod & 0xffff) === 0xffff ? [] : [typmod & 0xffff]
    default:
      return [typmod]
  }
}

/**
 * Consecutive statements that run in one transaction, or one statement that runs alone: outside
 * any transaction (CREATE INDEX CONCURRENTLY …), or in a transaction of its own after what comes
 * before it has committed (VALIDATE CONSTRAINT: see runsInOwnTransaction).
 */
interface Part {
  statements: SqlStatement[]
  outsideTransaction: boolean
  alone: boolean
  /** Statements of the file done once this part commits. */
  end: number
}

/** Splits the statements from `from` on into parts (the ones before it are committed already). */
export function partsOf(statements: SqlStatement[], from = 0): Part[] {
  const parts: Part[] = []
  for (let i = from; i < statements.length; i++) {
    const statement = statements[i]
    const alone = statement.outsideTransaction || statement.ownTransaction
    const last = parts.at(-1)
    if (alone || !last || last.alone || statement.startsTransaction) {
      parts.push({
        statements: [statement],
        outsideTransaction: statement.outsideTransaction,
        alone,
        end: i + 1,
      })
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
  /** The prelude still to run (see ApplyMigrationsOptions); cleared once it committed. */
  prelude: { run?: (client: Client) => Promise<void> } = {},
): Promise<void> {
  const { phase } = options
  const started = performance.now()
  const parts = partsOf(file.statements, file.statementsDone)
  let retries = 0
  let current: SqlStatement | undefined
  /** Whether a part of the file has committed (in this run or an earlier one): for the hints. */
  let committed = file.statementsDone > 0
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
      throw statementError(file, statement, error, options, committed)
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
      if (prelude.run) await withTransaction(client, () => prelude.run!(client))
      prelude.run = undefined
      const done = await retry(async () => {
        current = statement
        if ((await recoverIndexBuild(client, file, statement, options, emit)) === 'built') return true
        await withSessionTimeouts(client, options, () => run(statement))
        return false
      })
      if (!done) current = statement
      await record(part.end, last)
    } else {
      await retry(() =>
        withTransaction(
          client,
          async () => {
            await prelude.run?.(client)
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
    committed = true
    prelude.run = undefined
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
 * What an interrupted earlier run of a CREATE INDEX CONCURRENTLY left behind, made right before
 * the statement runs (again):
 * - an index of that name that another session is still building (its runner died, but the
 *   server goes on until it next writes to the dead socket): wait for that session to end;
 * - an INVALID index (a build that failed, timed out or whose session was killed): drop it, or
 *   the retry fails with "already exists" (or, under IF NOT EXISTS, keeps a useless index that
 *   still slows every write);
 * - a VALID index on the same table with exactly the definition the statement builds: the
 *   earlier run built it and died before recording it, so the statement's work is done.
 */
async function recoverIndexBuild(
  client: Client,
  file: PendingFile,
  statement: SqlStatement,
  options: ApplyMigrationsOptions,
  emit: (event: MigrationEvent) => void,
): Promise<'build' | 'built'> {
  if (!('IndexStmt' in statement.node)) return 'build'
  const stmt = statement.node.IndexStmt
  if (!stmt.idxname) return 'build'
  const cleanup = (index: string, action: 'dropped' | 'kept') =>
    emit({
      type: 'migration.cleanup',
      phase: options.phase,
      file: file.file,
      line: statement.start.line,
      index,
      action,
    })
  for (let waited = false; ;) {
    const { rows } = await client.query<{
      name: string
      valid: boolean
      same_table: boolean
      definition: string
      builder: number | null
    }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name, i.indisvalid AS valid,
              i.indrelid = to_regclass($3) AS same_table, pg_get_indexdef(c.oid) AS definition,
              (SELECT p.pid FROM pg_stat_progress_create_index p
                WHERE p.index_relid = c.oid AND p.pid <> pg_backend_pid() LIMIT 1) AS builder
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = $1 AND n.nspname = coalesce($2, current_schema())`,
      [stmt.idxname, stmt.relation?.schemaname ?? null, relationName(stmt.relation)],
    )
    const index = rows[0]
    if (!index) return 'build'
    if (index.builder !== null) {
      if (!waited) {
        emit({
          type: 'migration.wait',
          phase: options.phase,
          reason: `session ${index.builder} is still building index ${index.name} (an earlier run's): waiting for it to end`,
        })
      }
      waited = true
      await abortableSleep(250, options.signal)
      continue
    }
    if (!index.valid) {
      cleanup(index.name, 'dropped')
      await withSessionTimeouts(client, options, async () => {
        await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index.name}`)
      })
      return 'build'
    }
    if (index.same_table && (await sameIndexDefinition(stmt, index.definition))) {
      cleanup(index.name, 'kept')
      return 'built'
    }
    // Another index of that name: PostgreSQL says "already exists", and the hint says what to do.
    return 'build'
  }
}

/** Whether `definition` (pg_get_indexdef) builds what `stmt` builds: names and positions aside. */
async function sameIndexDefinition(stmt: IndexStmt, definition: string): Promise<boolean> {
  const { statements } = await parseSqlFile(definition, 'pg_get_indexdef')
  const node = statements[0]?.node
  if (!node || !('IndexStmt' in node)) return false
  const shape = (index: IndexStmt): string => {
    const {
      idxname: _name,
      relation: _relation,
      concurrent: _c,
      if_not_exists: _e,
      accessMethod,
      ...rest
    } = index
    return JSON.stringify({ ...rest, accessMethod: accessMethod ?? 'btree' }, (key, value: unknown) =>
      key === 'location' ? undefined : value,
    )
  }
  return shape(node.IndexStmt) === shape(stmt)
}

function relationName(relation: RangeVar | undefined): string | null {
  if (!relation?.relname) return null
  const quote = (name: string) => `"${name.replace(/"/g, '""')}"`
  return relation.schemaname
    ? `${quote(relation.schemaname)}.${quote(relation.relname)}`
    : quote(relation.relname)
}

function statementError(
  file: PendingFile,
  statement: SqlStatement,
  error: unknown,
  options: ApplyMigrationsOptions,
  committed: boolean,
): BluegreenError {
  const pg = error as { message?: string; position?: string; detail?: string; hint?: string; where?: string }
  // PostgreSQL's position is 1-based, in characters of the statement sent.
  const at = pg.position ? statement.positionInText(Number(pg.position) - 1) : statement.start
  const details: string[] = []
  if (pg.detail) details.push(`DETAIL: ${pg.detail}`)
  if (pg.hint) details.push(`HINT: ${pg.hint}`)
  if (pg.where) details.push(`CONTEXT: ${pg.where}`)
  details.push(`statement: ${firstLine(statement.text)}`)
  const timedOut = sqlStateOf(error) === '57014'
  const sqlState = sqlStateOf(error)
  const resume = committed
    ? 'the parts of the file before it are committed and recorded, and the run resumes after them'
    : statement.outsideTransaction
      ? // Outside a transaction, a statement's own work may be half done and committed.
        `this statement runs outside a transaction, so it may have left work behind${'IndexStmt' in statement.node ? ' (an interrupted CREATE INDEX CONCURRENTLY leaves an invalid index, which the next run drops before building again)' : ''}; nothing before it in this file had run`
      : 'nothing of this file was committed'
  return new BluegreenError({
    code: 'MIGRATION_FAILED',
    message: `${file.path}:${at.line}:${at.column}: ${pg.message ?? String(error)}`,
    details,
    hint: timedOut
      ? `the statement ran longer than statement_timeout (${options.statementTimeoutMs} ms): raise database.statementTimeout or make the statement cheaper`
      : sqlState === '42P07' && 'IndexStmt' in statement.node
        ? `an index of that name already exists and is not what this statement builds: rename the index in the file, or drop the other one; ${resume}`
        : `fix the cause and run again: ${resume}`,
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
