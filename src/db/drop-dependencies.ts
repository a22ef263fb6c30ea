/**
 * What still depends on a column a contract drops, read from the live catalog: a view that reads
 * it, a trigger on its table whose function names it (plpgsql bodies are not in pg_depend, so the
 * function's source is searched for the name), or another release's active sync that uses it.
 * A DROP COLUMN then either fails on the view or, worse, succeeds and leaves a trigger that breaks
 * every later write; so the contract refuses first.
 */
import type { Client } from './client.js'
import type { SqlStatement } from './sql-file.js'
import { findTable } from './backfill.js'
import { activeSyncs } from './sync.js'

export interface DroppedColumn {
  table: string
  column: string
}

/** The columns a file's statements drop (ALTER TABLE … DROP COLUMN). */
export function droppedColumns(statements: SqlStatement[]): DroppedColumn[] {
  const dropped: DroppedColumn[] = []
  for (const { node } of statements) {
    if (!('AlterTableStmt' in node)) continue
    const { relation, cmds } = node.AlterTableStmt
    if (!relation?.relname) continue
    const table = relation.schemaname ? `${relation.schemaname}.${relation.relname}` : relation.relname
    for (const cmd of cmds ?? []) {
      if ('AlterTableCmd' in cmd && cmd.AlterTableCmd.subtype === 'AT_DropColumn' && cmd.AlterTableCmd.name)
        dropped.push({ table, column: cmd.AlterTableCmd.name })
    }
  }
  return dropped
}

/** What depends on each dropped column, in words; `release` is the contract's own (its syncs go first). */
export async function dropDependencies(
  client: Client,
  app: string,
  release: string,
  dropped: DroppedColumn[],
): Promise<string[]> {
  const found: string[] = []
  const syncs = await activeSyncs(client, app)
  for (const { table, column } of dropped) {
    const resolved = await findTable(client, table)
    if (!resolved) continue
    const views = await client.query<{ view: string }>(
      `SELECT DISTINCT format('%I.%I', view_schema, view_name) AS view FROM information_schema.view_column_usage
        WHERE table_schema = $1 AND table_name = (SELECT relname FROM pg_class WHERE oid = $2::oid) AND column_name = $3`,
      [resolved.schema, resolved.oid, column],
    )
    for (const { view } of views.rows) found.push(`view ${view} reads ${resolved.name}.${column}`)
    const triggers = await client.query<{ trigger: string; fn: string }>(
      `SELECT t.tgname AS trigger, p.oid::regprocedure::text AS fn FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE t.tgrelid = $1::oid AND NOT t.tgisinternal AND t.tgname NOT LIKE 'bluegreen\\_sync\\_%'
          AND (p.prosrc ~* ('(^|[^a-z0-9_$])' || regexp_replace($2, '([^a-zA-Z0-9_])', '\\\\\\1', 'g') || '($|[^a-z0-9_$])')
               OR EXISTS (SELECT 1 FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                           WHERE d.classid = 'pg_trigger'::regclass AND d.objid = t.oid AND d.refobjid = $1::oid AND a.attname = $2))`,
      [resolved.oid, column],
    )
    for (const { trigger, fn } of triggers.rows)
      found.push(`trigger ${trigger} on ${resolved.name} (function ${fn}) names ${column}`)
    for (const sync of syncs) {
      if (sync.release === release || sync.table !== resolved.name) continue
      const text = JSON.stringify([sync.forward, sync.backward])
      if (
        new RegExp(`(^|[^A-Za-z0-9_$])${column.replace(/[^A-Za-z0-9_]/g, '\\$&')}($|[^A-Za-z0-9_$])`).test(
          text,
        )
      )
        found.push(`the active sync ${sync.name} of release ${sync.version} uses ${resolved.name}.${column}`)
    }
  }
  return found
}
