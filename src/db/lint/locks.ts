/**
 * Which statements take a lock that makes the application wait until the transaction commits,
 * and which may run long: together they are the long-statement-under-lock rule, and the linter
 * keeps `context.lockHeldBy` with blockingLock.
 */
import type { Constraint, Node, RangeVar } from 'libpg-query'
import { optionEnabled } from '../sql-file.js'
import type { FileContext } from './context.js'
import { findNodes, lastName, nameList, objectKind, objectName, qualified, relationsOf } from './names.js'

/** ALTER TABLE commands that take a lock the application does not wait for (SHARE UPDATE EXCLUSIVE). */
export const weakAlterCommands = new Set([
  'AT_ValidateConstraint',
  'AT_SetStatistics',
  'AT_SetOptions',
  'AT_ResetOptions',
  'AT_ClusterOn',
  'AT_DropCluster',
  'AT_AttachPartition',
  'AT_DetachPartitionFinalize',
])

/** LOCK TABLE's modes by number; SHARE (5) and stronger block writes. */
export const lockModes = [
  '',
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE',
]

/**
 * The lock a statement takes that makes the application wait (it blocks reads or writes of an
 * existing table), held until the transaction commits; undefined when it takes none.
 */
export function blockingLock(node: Node, context: FileContext): string | undefined {
  const on = (relation: RangeVar | undefined, what: string) =>
    relation && !context.isNew(relation) ? `${what} ${qualified(relation)}` : undefined
  if ('AlterTableStmt' in node) {
    const stmt = node.AlterTableStmt
    if (stmt.objtype === 'OBJECT_INDEX') return undefined
    const strong = (stmt.cmds ?? []).some(
      (c) => 'AlterTableCmd' in c && !weakAlterCommands.has(c.AlterTableCmd.subtype ?? ''),
    )
    return (strong ? on(stmt.relation, 'ALTER TABLE') : undefined) ?? referencedLock(node, context)
  }
  if ('CreateStmt' in node) return referencedLock(node, context)
  if ('IndexStmt' in node)
    return node.IndexStmt.concurrent ? undefined : on(node.IndexStmt.relation, 'CREATE INDEX on')
  if ('RenameStmt' in node) return on(node.RenameStmt.relation, 'ALTER … RENAME on')
  if ('CreateTrigStmt' in node) return on(node.CreateTrigStmt.relation, 'CREATE TRIGGER on')
  if ('RuleStmt' in node) return on(node.RuleStmt.relation, 'CREATE RULE on')
  if ('ClusterStmt' in node) return on(node.ClusterStmt.relation, 'CLUSTER')
  if ('RefreshMatViewStmt' in node)
    return node.RefreshMatViewStmt.concurrent ? undefined : on(node.RefreshMatViewStmt.relation, 'REFRESH of')
  if ('ReindexStmt' in node)
    return optionEnabled(node.ReindexStmt.params, 'concurrently')
      ? undefined
      : on(node.ReindexStmt.relation, 'REINDEX')
  if ('TruncateStmt' in node)
    return on(
      relationsOf(node.TruncateStmt.relations).find((r) => !context.isNew(r)),
      'TRUNCATE',
    )
  if ('LockStmt' in node && (node.LockStmt.mode ?? 8) >= 5)
    return on(
      relationsOf(node.LockStmt.relations).find((r) => !context.isNew(r)),
      'LOCK TABLE',
    )
  if ('DropStmt' in node) {
    const stmt = node.DropStmt
    const kinds = ['OBJECT_TABLE', 'OBJECT_INDEX', 'OBJECT_MATVIEW', 'OBJECT_VIEW']
    if (stmt.concurrent || !kinds.includes(stmt.removeType ?? '')) return undefined
    const kind = stmt.removeType === 'OBJECT_INDEX' ? 'index' : 'relation'
    const existing = (stmt.objects ?? []).find((o) => !context.has(kind, context.key(nameList(o))))
    return existing ? `DROP ${objectKind(stmt.removeType).toUpperCase()} ${objectName(existing)}` : undefined
  }
  return undefined
}

/**
 * A foreign key's SHARE ROW EXCLUSIVE lock on the existing table it references (blocking its
 * writes until commit), even when the table that gets the key is new: CREATE TABLE … REFERENCES,
 * ADD CONSTRAINT … FOREIGN KEY, ADD COLUMN … REFERENCES.
 */
function referencedLock(node: Node, context: FileContext): string | undefined {
  const referenced = (findNodes(node, 'Constraint') as Constraint[])
    .filter((c) => c.contype === 'CONSTR_FOREIGN' && c.pktable !== undefined)
    .map((c) => c.pktable!)
    .find((table) => !context.isNew(table))
  return referenced ? `a foreign key referencing ${qualified(referenced)}` : undefined
}

/**
 * Whether a statement may run long: it reads or writes many rows of an existing table (an UPDATE
 * or DELETE not pinned to keys, INSERT … SELECT, CREATE TABLE … AS, a SELECT from a table).
 */
export function longRunning(node: Node, context: FileContext): string | undefined {
  if ('UpdateStmt' in node) {
    const stmt = node.UpdateStmt
    if (context.isNew(stmt.relation) || pinned(stmt.whereClause, keyOf(stmt.relation, context)))
      return undefined
    return `UPDATE ${qualified(stmt.relation)}`
  }
  if ('DeleteStmt' in node) {
    const stmt = node.DeleteStmt
    if (context.isNew(stmt.relation) || pinned(stmt.whereClause, keyOf(stmt.relation, context)))
      return undefined
    return `DELETE FROM ${qualified(stmt.relation)}`
  }
  if ('InsertStmt' in node) {
    const select = node.InsertStmt.selectStmt
    if (!select || !('SelectStmt' in select) || readsTables(select, context) === undefined) return undefined
    return `INSERT INTO ${qualified(node.InsertStmt.relation)} … SELECT`
  }
  if ('CreateTableAsStmt' in node) {
    const query = node.CreateTableAsStmt.query
    return query && readsTables(query, context)
      ? `CREATE TABLE ${qualified(node.CreateTableAsStmt.into?.rel)} AS`
      : undefined
  }
  if ('SelectStmt' in node) {
    const table = readsTables(node, context)
    return table ? `SELECT … FROM ${table}` : undefined
  }
  return undefined
}

/** The first existing table a query reads, if any. */
function readsTables(query: Node, context: FileContext): string | undefined {
  for (const relation of findNodes(query, 'RangeVar') as RangeVar[]) {
    if (!context.isNew(relation)) return qualified(relation)
  }
  return undefined
}

/**
 * Whether a column of the statement's table is a key: `id`, or one the files (or, at release
 * time, the catalog) show as a primary key or the only column of a unique index over every row.
 * (`status = 'closed'` picks every closed row: not a key.) In a migration tool's own bookkeeping table, one row per migration, any
 * column picks a few rows: Alembic's offline SQL ends each upgrade with
 * `UPDATE alembic_version … WHERE version_num = '…'`.
 */
function keyOf(relation: RangeVar | undefined, context: FileContext): (column: string) => boolean {
  const table = context.key(relation)
  if (relation?.relname && bookkeepingTables.has(relation.relname.toLowerCase())) return () => true
  return (column) =>
    column.toLowerCase() === 'id' || (table !== undefined && context.knowledge.isKey(table, column))
}

/** Migration tools' tables of applied migrations (Alembic, Rails, Django, Flyway, Knex, Prisma, goose, Liquibase, drizzle). */
const bookkeepingTables = new Set([
  'alembic_version',
  'schema_migrations',
  'django_migrations',
  'flyway_schema_history',
  'knex_migrations',
  'knex_migrations_lock',
  '_prisma_migrations',
  'goose_db_version',
  'databasechangelog',
  'databasechangeloglock',
  '__drizzle_migrations',
])

/**
 * A WHERE that picks a bounded set of rows by key: a few rows, fast. `id = 1`, `id IN (1, 2)`,
 * `id = ANY (ARRAY[1, 2])` or `= ANY ('{1,2}')`, and a batch, `id IN (SELECT id … LIMIT 1000)`;
 * any of them under AND.
 */
function pinned(where: Node | undefined, isKey: (column: string) => boolean): boolean {
  if (!where) return false
  if ('BoolExpr' in where)
    return (
      where.BoolExpr.boolop === 'AND_EXPR' && (where.BoolExpr.args ?? []).some((arg) => pinned(arg, isKey))
    )
  const constant = (n: Node | undefined): boolean =>
    n !== undefined && ('A_Const' in n || 'ParamRef' in n || ('TypeCast' in n && constant(n.TypeCast.arg)))
  const column = (n: Node | undefined) => {
    const name = n !== undefined && 'ColumnRef' in n ? lastName(n.ColumnRef.fields) : undefined
    return name !== undefined && isKey(name)
  }
  if ('SubLink' in where) {
    const { subLinkType, testexpr, operName, subselect } = where.SubLink
    const select = subselect && 'SelectStmt' in subselect ? subselect.SelectStmt : undefined
    return (
      subLinkType === 'ANY_SUBLINK' &&
      (operName === undefined || lastName(operName) === '=') &&
      column(testexpr) &&
      constant(select?.limitCount)
    )
  }
  if (!('A_Expr' in where)) return false
  const expr = where.A_Expr
  const operator = lastName(expr.name)
  if (expr.kind === 'AEXPR_OP_ANY' && operator === '=') {
    const array = expr.rexpr && 'A_ArrayExpr' in expr.rexpr ? expr.rexpr.A_ArrayExpr.elements : undefined
    return column(expr.lexpr) && (array ? array.length > 0 && array.every(constant) : constant(expr.rexpr))
  }
  if (expr.kind === 'AEXPR_OP' && operator === '=')
    return (column(expr.lexpr) && constant(expr.rexpr)) || (column(expr.rexpr) && constant(expr.lexpr))
  if (expr.kind === 'AEXPR_IN' && operator === '=') {
    const list = expr.rexpr && 'List' in expr.rexpr ? (expr.rexpr.List.items ?? []) : []
    return column(expr.lexpr) && list.length > 0 && list.every(constant)
  }
  return false
}
