/**
 * Declared sync: while both versions write one table, a row trigger keeps the old columns and the
 * new ones right whichever version wrote. `forward` computes new columns from old ones, `backward`
 * old from new. The trigger decides by what the write touched:
 *   INSERT: only old columns set (new all NULL) → new := forward; only new set → old := backward.
 *   UPDATE: only old columns changed → new := forward; only new changed → old := backward.
 *   Anything else (both, neither) is kept as written.
 * The expand phase installs it and brings existing rows in line through `forward` with the backfill
 * engine (installAndFill); the release's contract checks parity and drops it before its own SQL.
 */
import { createHash } from 'node:crypto'
import { BluegreenError } from '../errors.js'
import type { SyncDeclaration } from '../format/parts.js'
import { backfill, findTable, primaryKeyColumns, type BackfillOptions } from './backfill.js'
import { quoteIdent, withTransaction, type Client } from './client.js'
import { defaultRetryPolicy, retryOnLockTimeout } from './lock-retry.js'
import { ensureStateSchema, stateSchemaExists } from './state-schema.js'
import { checkSyncExpressions, type SyncExpression } from './sync-expressions.js'

/** One table's sync: the merged forward and backward maps of the declarations naming it. */
export interface TableSync {
  table: string
  /** New column → expression over the row's columns. */
  forward: Record<string, string>
  /** Old column → expression over the row's columns. */
  backward: Record<string, string>
  /** Renames: `to` is added (same type as `column`, nullable) if the SQL did not add it. */
  renames: { column: string; to: string }[]
  /** The declared expressions, with their place in the plan, for installSync to parse first. */
  expressions: SyncExpression[]
}

/**
 * How the sync backfill batches (the expand phase's, and bench/sync.ts's): batches sized to take
 * about 25 ms each, from 1000 rows. Each batch costs a round trip, a commit and a search for its
 * end; batches of a fixed 1000 rows took ~5 ms on a quiet server, so those costs were a third of
 * the time, and 25 ms of row locks per batch still keeps app writes to those rows waiting briefly.
 */
export const SYNC_BACKFILL_BATCHES = { batchSize: 1000, targetBatchMs: 25 }

/** The setting a backfill sets (SET LOCAL) so that sync triggers keep its writes as they are. */
export const SYNC_BYPASS_SETTING = 'bluegreen.sync'

/**
 * Groups declarations by table; a rename becomes forward `to = column`, backward `column = to`.
 * `at` is the phase's place in the plan (e.g. `phases[1].expand`), for errors that name an expression.
 */
export function tableSyncs(declarations: SyncDeclaration[] = [], at = 'expand'): TableSync[] {
  const byTable = new Map<string, TableSync>()
  const of = (table: string) => {
    const found = byTable.get(table) ?? { table, forward: {}, backward: {}, renames: [], expressions: [] }
    byTable.set(table, found)
    return found
  }
  for (const [position, declaration] of declarations.entries()) {
    if ('rename' in declaration) {
      const { table, column, to } = declaration.rename
      const sync = of(table)
      sync.forward[to] = quoteIdent(column)
      sync.backward[column] = quoteIdent(to)
      sync.renames.push({ column, to })
    } else {
      const sync = of(declaration.table)
      Object.assign(sync.forward, declaration.forward)
      Object.assign(sync.backward, declaration.backward)
      for (const side of ['forward', 'backward'] as const) {
        for (const [column, expression] of Object.entries(declaration[side]))
          sync.expressions.push({ path: `${at}.sync[${position}].${side}.${column}`, expression })
      }
    }
  }
  return [...byTable.values()]
}

/**
 * The trigger's and function's name: `bluegreen_sync_<app>_<table>_<releaseSeq>`, so the owner
 * release is plain. PostgreSQL truncates identifiers at 63 bytes; a longer name is shortened
 * and given a digest, so two long names never collide.
 */
export function syncObjectName(app: string, table: string, releaseSeq: number): string {
  const relation = table.split('.').at(-1) ?? table
  const full = `bluegreen_sync_${app}_${relation}_${releaseSeq}`
  if (Buffer.byteLength(full) <= 63) return full
  const digest = createHash('sha256').update(full).digest('hex').slice(0, 8)
  const suffix = `_${digest}_${releaseSeq}`
  let head = `bluegreen_sync_${app}_${relation}`
  while (Buffer.byteLength(head + suffix) > 63) head = head.slice(0, -1)
  return head + suffix
}

/**
 * The trigger function's body (plpgsql); see the file comment for what it decides. Each column an
 * expression may name becomes a local variable holding the row's value, so the expressions stay
 * as written and each assignment is a plpgsql simple expression (no query per row).
 */
export function syncFunctionBody(
  sync: Pick<TableSync, 'forward' | 'backward'>,
  columns: Map<string, string>,
): string {
  const newColumns = Object.keys(sync.forward)
  const oldColumns = Object.keys(sync.backward)
  const text = [...Object.values(sync.forward), ...Object.values(sync.backward)].join(' ')
  const named = [...columns].filter(([column]) => mentions(text, column))
  const declare = named.map(
    ([column, type]) => `  ${quoteIdent(column)} ${type} := NEW.${quoteIdent(column)};`,
  )
  const row = (prefix: string, list: string[]) =>
    `ROW(${list.map((c) => `${prefix}.${quoteIdent(c)}`).join(', ')})`
  const allNull = (list: string[]) => list.map((c) => `NEW.${quoteIdent(c)} IS NULL`).join(' AND ')
  const changed = (list: string[]) => `${row('NEW', list)} IS DISTINCT FROM ${row('OLD', list)}`
  const assign = (map: Record<string, string>) =>
    Object.entries(map)
      .map(([column, expression]) => `NEW.${quoteIdent(column)} := (${expression});`)
      .join(' ')
  return `
DECLARE
${declare.join('\n')}
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF ${allNull(newColumns)} THEN
      IF NOT (${allNull(oldColumns)}) THEN ${assign(sync.forward)} END IF;
    ELSIF ${allNull(oldColumns)} THEN ${assign(sync.backward)}
    END IF;
  ELSIF ${changed(oldColumns)} THEN
    IF NOT (${changed(newColumns)}) THEN ${assign(sync.forward)} END IF;
  ELSIF ${changed(newColumns)} THEN ${assign(sync.backward)}
  END IF;
  RETURN NEW;
END`
}

/** Whether an expression may name the column (as a word, or quoted); false positives only cost a copy. */
function mentions(text: string, column: string): boolean {
  if (text.includes(quoteIdent(column))) return true
  const escaped = column.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`(^|[^A-Za-z0-9_$])${escaped}($|[^A-Za-z0-9_$])`, 'i').test(text)
}

/** The `set` and `where` of the backfill that brings rows in line through `forward`. */
export function syncBackfill(sync: Pick<TableSync, 'forward'>): { set: string; where: string } {
  const columns = Object.keys(sync.forward)
  return {
    set: columns.map((c) => `${quoteIdent(c)} = ${sync.forward[c]}`).join(', '),
    where: syncMismatch(sync),
  }
}

/** Rows whose new columns differ from forward(old columns). */
export function syncMismatch(sync: Pick<TableSync, 'forward'>): string {
  const columns = Object.keys(sync.forward)
  return `ROW(${columns.map(quoteIdent).join(', ')}) IS DISTINCT FROM ROW(${columns.map((c) => `(${sync.forward[c]})`).join(', ')})`
}

/**
 * Puts the session's settings back to what it connected with. The expand phase runs its syncs on
 * the connection its SQL ran on, and a migration's plain `SET search_path` outlives its
 * transaction: a sync's table must be found as every other command finds it (on a connection of
 * its own), not in whatever schema the last migration left the session in.
 */
export async function sessionDefaults(client: Client): Promise<void> {
  await client.query('RESET ALL')
}

type ResolvedTable = NonNullable<Awaited<ReturnType<typeof findTable>>>

async function resolveTable(client: Client, table: string): Promise<ResolvedTable> {
  const found = await findTable(client, table)
  if (!found) {
    throw new BluegreenError({
      code: 'MIGRATION_FAILED',
      message: `sync: table ${table} does not exist`,
      hint: 'check `table` of the sync; the expand SQL must create the table and its new columns',
    })
  }
  return found
}

async function columnTypes(client: Client, oid: number): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type
       FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped`,
    [oid],
  )
  return new Map(rows.map((r) => [r.name, r.type]))
}

/** Checks that every column named by the sync exists and every expression evaluates on the table. */
async function checkColumns(
  client: Client,
  table: ResolvedTable,
  sync: TableSync,
  known?: Map<string, string>,
): Promise<void> {
  const columns = known ?? (await columnTypes(client, table.oid))
  for (const [side, map] of [
    ['forward', sync.forward],
    ['backward', sync.backward],
  ] as const) {
    for (const [column, expression] of Object.entries(map)) {
      if (!columns.has(column)) {
        throw new BluegreenError({
          code: 'MIGRATION_FAILED',
          message: `sync of ${table.name}: column ${column} (${side}) does not exist`,
          hint: `add it in the expand SQL (nullable), or fix the column name in \`${side}\``,
        })
      }
      try {
        await client.query(`SELECT (${expression})::${columns.get(column)} FROM ${table.name} LIMIT 0`)
      } catch (error) {
        throw new BluegreenError({
          code: 'MIGRATION_FAILED',
          message: `sync of ${table.name}: ${side} ${column} = ${expression}: ${(error as Error).message}`,
          hint: 'the expression is evaluated on a row of the table: name its columns, and give a value of the column’s type',
          cause: error,
        })
      }
    }
  }
}

export interface InstallSyncOptions {
  app: string
  release: string
  version: string
  releaseSeq: number
  lockTimeoutMs: number
  attempts?: number
}

export interface InstalledSync {
  table: string
  name: string
  /** Whether this call created it (false: it was installed already). */
  created: boolean
}

/**
 * Installs one table's sync trigger (idempotent). An identical sync of an earlier release on the
 * same table (a rolled-back release, re-released) is taken over: its trigger is dropped in the
 * same transaction, so writes are never unsynced.
 */
export async function installSync(
  client: Client,
  sync: TableSync,
  options: InstallSyncOptions,
): Promise<InstalledSync> {
  // A syntax error is the plan's, and is said before anything touches the database.
  await checkSyncExpressions(sync.expressions)
  await ensureStateSchema(client)
  const table = await resolveTable(client, sync.table)
  const name = syncObjectName(options.app, sync.table, options.releaseSeq)
  const fn = `${quoteIdent(table.schema)}.${quoteIdent(name)}`
  const definition = { forward: sync.forward, backward: sync.backward }
  const policy = { ...defaultRetryPolicy, attempts: options.attempts ?? defaultRetryPolicy.attempts }
  return retryOnLockTimeout(policy, () =>
    withTransaction(client, async () => {
      await client.query(`SET LOCAL lock_timeout = '${Math.round(options.lockTimeoutMs)}ms'`)
      const columns = await columnTypes(client, table.oid)
      for (const rename of sync.renames) {
        const type = columns.get(rename.column)
        if (!type) {
          throw new BluegreenError({
            code: 'MIGRATION_FAILED',
            message: `sync of ${table.name}: rename of column ${rename.column}, which does not exist`,
            hint: 'check `rename.column`',
          })
        }
        if (!columns.has(rename.to))
          await client.query(`ALTER TABLE ${table.name} ADD COLUMN ${quoteIdent(rename.to)} ${type}`)
      }
      await checkColumns(client, table, sync)
      const existing = await client.query<{ release: string }>(
        `SELECT release FROM bluegreen.syncs WHERE app = $1 AND table_name = $2 AND dropped_at IS NULL
            AND forward = $3::jsonb AND backward = $4::jsonb`,
        [options.app, table.name, JSON.stringify(sync.forward), JSON.stringify(sync.backward)],
      )
      if (existing.rows.some((r) => r.release === options.release))
        return { table: table.name, name, created: false }
      for (const other of existing.rows)
        await dropSyncsInTransaction(client, { app: options.app, release: other.release, table: table.name })
      const body = syncFunctionBody(definition, await columnTypes(client, table.oid))
      await client.query(
        `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $bluegreen_sync$${body}$bluegreen_sync$`,
      )
      await client.query(`DROP TRIGGER IF EXISTS ${quoteIdent(name)} ON ${table.name}`)
      await client.query(
        // The bypass is the trigger's WHEN: a backfill's rows then cost no function call at all.
        `CREATE TRIGGER ${quoteIdent(name)} BEFORE INSERT OR UPDATE ON ${table.name} FOR EACH ROW
           WHEN (current_setting('${SYNC_BYPASS_SETTING}', true) IS DISTINCT FROM 'off') EXECUTE FUNCTION ${fn}()`,
      )
      await client.query(
        `INSERT INTO bluegreen.syncs (app, release, version, release_seq, table_name, object_name, function_name, forward, backward)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb)
         ON CONFLICT (app, release, table_name) DO UPDATE SET dropped_at = NULL, installed_at = now(),
           object_name = EXCLUDED.object_name, function_name = EXCLUDED.function_name,
           forward = EXCLUDED.forward, backward = EXCLUDED.backward`,
        [
          options.app,
          options.release,
          options.version,
          options.releaseSeq,
          table.name,
          name,
          fn,
          JSON.stringify(sync.forward),
          JSON.stringify(sync.backward),
        ],
      )
      return { table: table.name, name, created: true }
    }),
  )
}

export interface FillOptions extends Omit<
  BackfillOptions,
  'table' | 'set' | 'where' | 'batchSize' | 'targetBatchMs' | 'settings' | 'name'
> {
  /**
   * Whether no version that writes the sync's new columns can be running yet (no step of the
   * release that touches a pool ran before): then the rows may be brought in line before the
   * trigger goes in. See installAndFill.
   */
  fillFirst: boolean
  /** Called once the trigger is in (created, or found installed), before the last walk. */
  onInstalled?: (installed: InstalledSync) => Promise<void> | void
}

export interface FilledSync extends InstalledSync {
  /** Rows brought in line through `forward`. */
  rows: number
  /** Whether most of them were, before the trigger was installed. */
  filledFirst: boolean
  /** The longest time one batch held its row locks. */
  maxBatchMs: number
}

/**
 * Installs a table's sync and brings every existing row in line through `forward` (the expand
 * phase's work; idempotent, resumable).
 *
 * The order matters for speed, not for the result. While a table has a BEFORE UPDATE row
 * trigger, PostgreSQL locks each row before it updates it (to hand the old row to the trigger,
 * whatever the trigger's WHEN says): a bulk UPDATE then writes every row twice, and the sync
 * backfill ran at 0.6× one plain UPDATE (bench/sync.ts). So when nothing can be writing the new
 * columns yet (`fillFirst`: the new version is not deployed; the table has no sync of
 * bluegreen's, its new columns exist), the rows are filled first, with no trigger on the table;
 * then the trigger goes in, and a second walk brings in line what the old version wrote
 * meanwhile (usually nothing: one read of the table). Writes from then on go through the
 * trigger. Otherwise (a re-release, a rename whose column the trigger adds, a deploy before the
 * expand) the trigger goes in first and the walk runs once, with it.
 */
export async function installAndFill(
  client: Client,
  sync: TableSync,
  install: InstallSyncOptions,
  fill: FillOptions,
): Promise<FilledSync> {
  const { fillFirst, onInstalled, ...walk } = fill
  const run = () =>
    backfill(client, {
      ...walk,
      table: sync.table,
      ...syncBackfill(sync),
      ...SYNC_BACKFILL_BATCHES,
      // The backfill writes new columns from old ones: a trigger must keep the old as they are.
      settings: { [SYNC_BYPASS_SETTING]: 'off' },
    })
  const first = fillFirst && (await readyToFillFirst(client, sync)) ? await run() : undefined
  const installed = await installSync(client, sync, install)
  await onInstalled?.(installed)
  const last = await run()
  return {
    ...installed,
    rows: (first?.rows ?? 0) + last.rows,
    filledFirst: first !== undefined,
    maxBatchMs: Math.max(first?.maxBatchMs ?? 0, last.maxBatchMs),
  }
}

/**
 * Whether the rows can be filled before the trigger: the table exists, no sync of bluegreen's is
 * on it (whose new version might be writing), and every column the sync names exists and its
 * expression evaluates (checked as installSync does, with its errors). Otherwise installSync
 * says what is wrong, or adds a rename's column, first.
 */
async function readyToFillFirst(client: Client, sync: TableSync): Promise<boolean> {
  const table = await findTable(client, sync.table)
  if (!table) return false
  if (await stateSchemaExists(client)) {
    const { rows } = await client.query(
      'SELECT 1 FROM bluegreen.syncs WHERE table_name = $1 AND dropped_at IS NULL LIMIT 1',
      [table.name],
    )
    if (rows.length > 0) return false
  }
  const columns = await columnTypes(client, table.oid)
  if (![...Object.keys(sync.forward), ...Object.keys(sync.backward)].every((c) => columns.has(c)))
    return false
  await checkColumns(client, table, sync, columns)
  return true
}

/** Drops a release's sync triggers and functions inside the caller's transaction; returns their tables. */
export async function dropSyncsInTransaction(
  client: Client,
  options: { app: string; release: string; table?: string },
): Promise<string[]> {
  if (!(await stateSchemaExists(client))) return []
  const { rows } = await client.query<{ table_name: string; function_name: string }>(
    `SELECT table_name, function_name FROM bluegreen.syncs
      WHERE app = $1 AND release = $2 AND dropped_at IS NULL AND ($3::text IS NULL OR table_name = $3)`,
    [options.app, options.release, options.table ?? null],
  )
  for (const row of rows) {
    // CASCADE drops the trigger with its function, and only that: nothing else calls it.
    await client.query(`DROP FUNCTION IF EXISTS ${row.function_name}() CASCADE`)
  }
  await client.query(
    `UPDATE bluegreen.syncs SET dropped_at = now()
      WHERE app = $1 AND release = $2 AND dropped_at IS NULL AND ($3::text IS NULL OR table_name = $3)`,
    [options.app, options.release, options.table ?? null],
  )
  return rows.map((r) => r.table_name)
}

export interface ActiveSync {
  release: string
  version: string
  releaseSeq: number
  table: string
  name: string
  forward: Record<string, string>
  backward: Record<string, string>
  installedAt: Date
}

/** Syncs installed and not dropped, oldest release first. */
export async function activeSyncs(client: Client, app: string, release?: string): Promise<ActiveSync[]> {
  if (!(await stateSchemaExists(client))) return []
  const { rows } = await client.query<{
    release: string
    version: string
    release_seq: string
    table_name: string
    object_name: string
    forward: Record<string, string>
    backward: Record<string, string>
    installed_at: Date
  }>(
    `SELECT release, version, release_seq, table_name, object_name, forward, backward, installed_at
       FROM bluegreen.syncs WHERE app = $1 AND dropped_at IS NULL AND ($2::text IS NULL OR release = $2)
      ORDER BY release_seq, table_name`,
    [app, release ?? null],
  )
  return rows.map((r) => ({
    release: r.release,
    version: r.version,
    releaseSeq: Number(r.release_seq),
    table: r.table_name,
    name: r.object_name,
    forward: r.forward,
    backward: r.backward,
    installedAt: r.installed_at,
  }))
}

/** Rows of `table` matching `where`: how many, and the keys of up to 5 of them. */
export async function rowsMatching(
  client: Client,
  table: string,
  where: string,
): Promise<{ count: number; examples: string[] }> {
  const resolved = await resolveTable(client, table)
  const key = await primaryKeyColumns(client, resolved.oid)
  const keyText =
    key.length > 0 ? key.map((k) => `${quoteIdent(k.name)}::text`).join(` || ',' || `) : 'ctid::text'
  const order = key.length > 0 ? key.map((k) => quoteIdent(k.name)).join(', ') : 'ctid'
  const { rows } = await client.query<{ count: number; examples: string[] | null }>(
    `SELECT count(*)::int AS count, (array_agg(${keyText} ORDER BY ${order}))[1:5] AS examples
       FROM ${resolved.name} WHERE (${where})`,
  )
  return { count: rows[0]?.count ?? 0, examples: rows[0]?.examples ?? [] }
}
