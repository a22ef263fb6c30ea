/**
 * One piece of context spans a file: objects created earlier in the same file are new, so no
 * running version uses them and nobody waits on their locks. An index on a table created two
 * lines up needs no CONCURRENTLY, and an enum created in the file can gain values freely.
 * (Not after CREATE ... IF NOT EXISTS or CREATE OR REPLACE: those may have found the old one.)
 *
 * The rules read the context; what a statement teaches it (learn, learnCommand) is here, apart
 * from the rules, so that no rule depends on another having run.
 */
import type { AlterTableCmd, ColumnDef, Node, RangeVar } from 'libpg-query'
import { SchemaKnowledge } from './knowledge.js'
import { columnConstraints, columnDefOf, columnTypeOf, lastName, nameList } from './names.js'

export type ObjectKind = 'relation' | 'type' | 'index' | 'function' | 'trigger'

/**
 * What earlier statements of the same file created, and the lock the open transaction holds.
 * Names are schema-qualified: a table created as `a.t` is not `b.t`; an unqualified name is in
 * the first schema of the file's `SET search_path` (public until one is set).
 */
export class FileContext {
  private readonly created: Set<string>
  private schema = 'public'
  /** The statement whose lock (one that blocks the application) the open transaction holds. */
  lockHeldBy: string | undefined

  constructor(readonly knowledge = new SchemaKnowledge()) {
    this.created = knowledge.created ?? new Set()
  }

  /** `schema.name` of a relation, or of a name list (`[schema, name]` or `[name]`). */
  key(relation: RangeVar | Node[] | undefined): string | undefined {
    if (Array.isArray(relation)) {
      const parts = relation.flatMap((n) =>
        'String' in n && n.String.sval !== undefined ? [n.String.sval] : [],
      )
      const name = parts.at(-1)
      if (name === undefined) return undefined
      return `${parts.length > 1 ? parts.at(-2) : this.schema}.${name}`
    }
    if (relation?.relname === undefined) return undefined
    return `${relation.schemaname ?? this.schema}.${relation.relname}`
  }

  remember(kind: ObjectKind, key: string | undefined): void {
    if (key !== undefined) this.created.add(`${kind}:${key}`)
  }

  has(kind: ObjectKind, key: string | undefined): boolean {
    return key !== undefined && this.created.has(`${kind}:${key}`)
  }

  isNew(relation: RangeVar | undefined): boolean {
    return this.has('relation', this.key(relation))
  }

  setSearchPath(first: string): void {
    this.schema = first
  }
}

/**
 * What a statement tells about the file from now on: the objects it creates, the tables it
 * drops, the search_path it sets. (ALTER TABLE teaches per command: learnCommand.)
 */
export function learn(node: Node, context: FileContext): void {
  if ('VariableSetStmt' in node) {
    const stmt = node.VariableSetStmt
    const first = stmt.args?.[0]
    if (stmt.name === 'search_path' && first && 'A_Const' in first && first.A_Const.sval?.sval)
      context.setSearchPath(first.A_Const.sval.sval)
  } else if ('CreateStmt' in node) {
    const stmt = node.CreateStmt
    const table = context.key(stmt.relation)
    // IF NOT EXISTS finds the table when an earlier file created it or the catalog has it: then it
    // is not new. Otherwise it is, as ORMs write every new table so (drizzle-kit).
    if (!stmt.if_not_exists || (table !== undefined && !context.knowledge.hasTable(table)))
      context.remember('relation', table)
    if (table !== undefined) context.knowledge.recordTable(table)
    for (const element of stmt.tableElts ?? []) {
      if ('Constraint' in element) {
        // A table's PRIMARY KEY (id) or UNIQUE (email): a key when it is one column; a primary
        // key's columns are NOT NULL, however many.
        const { contype, keys } = element.Constraint
        const columns = (keys ?? []).flatMap((k) => ('String' in k && k.String.sval ? [k.String.sval] : []))
        if (table && columns.length === 1 && (contype === 'CONSTR_PRIMARY' || contype === 'CONSTR_UNIQUE'))
          context.knowledge.recordKey(table, columns[0])
        if (table && contype === 'CONSTR_PRIMARY')
          for (const column of columns) context.knowledge.recordProvenNotNull(table, column)
      }
      if (!('ColumnDef' in element)) continue
      const column = element.ColumnDef
      const type = columnTypeOf(column.typeName)
      if (table && column.colname && type) context.knowledge.setColumnType(table, column.colname, type)
      if (table && column.colname && declaredNotNull(column))
        context.knowledge.recordProvenNotNull(table, column.colname)
      const single = columnConstraints(column).some(
        (c) => c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_UNIQUE',
      )
      if (table && column.colname && single) context.knowledge.recordKey(table, column.colname)
    }
  } else if ('CreateSeqStmt' in node) {
    if (!node.CreateSeqStmt.if_not_exists)
      context.remember('relation', context.key(node.CreateSeqStmt.sequence))
  } else if ('CreateTableAsStmt' in node) {
    if (!node.CreateTableAsStmt.if_not_exists)
      context.remember('relation', context.key(node.CreateTableAsStmt.into?.rel))
  } else if ('ViewStmt' in node) {
    if (!node.ViewStmt.replace) context.remember('relation', context.key(node.ViewStmt.view))
  } else if ('CreateFunctionStmt' in node) {
    const stmt = node.CreateFunctionStmt
    if (!stmt.replace) context.remember('function', context.key(stmt.funcname))
  } else if ('CreateTrigStmt' in node) {
    const stmt = node.CreateTrigStmt
    if (!stmt.replace || context.isNew(stmt.relation))
      context.remember('trigger', `${context.key(stmt.relation) ?? '?'}.${stmt.trigname ?? '?'}`)
  } else if ('CreateEnumStmt' in node) {
    context.remember('type', context.key(node.CreateEnumStmt.typeName))
  } else if ('CreateDomainStmt' in node) {
    context.remember('type', context.key(node.CreateDomainStmt.domainname))
  } else if ('CompositeTypeStmt' in node) {
    context.remember('type', context.key(node.CompositeTypeStmt.typevar))
  } else if ('IndexStmt' in node) {
    const stmt = node.IndexStmt
    const index = `${stmt.relation?.schemaname ?? context.key([])?.split('.')[0] ?? 'public'}.${stmt.idxname}`
    if (!stmt.if_not_exists && stmt.idxname) context.remember('index', index)
    const table = context.key(stmt.relation)
    // An index on expressions is no help to a USING INDEX (PostgreSQL refuses one) nor a key.
    const columns = (stmt.indexParams ?? []).flatMap((p) =>
      'IndexElem' in p && p.IndexElem.name ? [p.IndexElem.name] : [],
    )
    if (stmt.idxname && table && columns.length === (stmt.indexParams ?? []).length)
      // A partial unique index leaves the rows outside its predicate free to repeat a value: no key.
      context.knowledge.recordIndex(index, table, columns, stmt.unique === true && !stmt.whereClause)
  } else if ('DropStmt' in node && node.DropStmt.removeType === 'OBJECT_TABLE') {
    for (const object of node.DropStmt.objects ?? []) {
      const key = context.key(nameList(object))
      if (key) context.knowledge.forgetTable(key)
    }
  }
}

/** What an ALTER TABLE command tells about the table's columns from now on. */
export function learnCommand(cmd: AlterTableCmd, table: string, context: FileContext): void {
  const column = cmd.name ?? ''
  switch (cmd.subtype) {
    case 'AT_AddColumn':
    case 'AT_AlterColumnType': {
      const def = columnDefOf(cmd)
      const type = columnTypeOf(def?.typeName)
      if (type) context.knowledge.setColumnType(table, def?.colname ?? column, type)
      if (cmd.subtype === 'AT_AddColumn' && def && declaredNotNull(def))
        context.knowledge.recordProvenNotNull(table, def.colname ?? column)
      break
    }
    case 'AT_DropColumn':
      context.knowledge.forgetColumn(table, column)
      break
    case 'AT_SetNotNull':
      context.knowledge.recordProvenNotNull(table, column)
      break
    case 'AT_ValidateConstraint':
      context.knowledge.recordValidated(table, column)
      break
    case 'AT_AddConstraint': {
      const constraint = cmd.def && 'Constraint' in cmd.def ? cmd.def.Constraint : undefined
      const checked = constraint?.contype === 'CONSTR_CHECK' ? notNullColumns(constraint.raw_expr) : []
      if (constraint?.conname && checked.length > 0)
        context.knowledge.recordNotNullCheck(
          table,
          constraint.conname,
          checked,
          constraint.skip_validation !== true,
        )
      break
    }
    default:
      break
  }
}

/** A column declared NOT NULL (or PRIMARY KEY, or an identity: NOT NULL too) where it is defined. */
function declaredNotNull(column: ColumnDef): boolean {
  if (column.is_not_null || column.identity) return true
  return columnConstraints(column).some((c) =>
    ['CONSTR_NOTNULL', 'CONSTR_PRIMARY', 'CONSTR_IDENTITY'].includes(c.contype ?? ''),
  )
}

/** The columns a CHECK expression proves NOT NULL: `col IS NOT NULL`, alone or among ANDs. */
export function notNullColumns(expr: Node | undefined): string[] {
  if (!expr) return []
  // CHECK (a IS NOT NULL AND b > 0) proves a NOT NULL too: PostgreSQL's proof looks into ANDs.
  if ('BoolExpr' in expr)
    return expr.BoolExpr.boolop === 'AND_EXPR' ? (expr.BoolExpr.args ?? []).flatMap(notNullColumns) : []
  if (!('NullTest' in expr) || expr.NullTest.nulltesttype !== 'IS_NOT_NULL') return []
  const arg = expr.NullTest.arg
  const name = arg && 'ColumnRef' in arg ? lastName(arg.ColumnRef.fields) : undefined
  return name === undefined ? [] : [name]
}
