/**
 * The checks behind the rules: each looks at one parsed statement (PostgreSQL's own parse tree)
 * and reports what it breaks or locks. The rule catalogue (ids, hints, phases) is in rules.ts;
 * this file decides only *whether* a statement trips a rule.
 *
 * One piece of context spans a file: objects created earlier in the same file are new, so no
 * running version uses them and nobody waits on their locks. An index on a table created two
 * lines up needs no CONCURRENTLY, and an enum created in the file can gain values freely.
 * (Not after CREATE ... IF NOT EXISTS or CREATE OR REPLACE: those may have found the old one.)
 */
import type {
  AlterDomainStmt,
  AlterTableCmd,
  AlterTableStmt,
  ColumnDef,
  Constraint,
  DropStmt,
  Node,
  RangeVar,
  RenameStmt,
} from 'libpg-query'
import type { RuleId } from './rules.js'

export interface Hit {
  rule: RuleId
  message: string
  /** Byte offset of the offending node; the statement's start when absent. */
  location?: number
  /** For parts the parse tree gives no location (a DROP COLUMN): found in the statement's text. */
  near?: RegExp
}

/** What earlier statements of the same file created or proved. */
export class FileContext {
  readonly createdRelations = new Set<string>()
  readonly createdTypes = new Set<string>()
  readonly createdIndexes = new Set<string>()
  /** CHECK (col IS NOT NULL) constraints by `table.constraint` → column. */
  private readonly notNullChecks = new Map<string, string>()
  /** `table.column` pairs whose NOT NULL is proven by a validated CHECK constraint. */
  private readonly provenNotNull = new Set<string>()

  isNew(relation: RangeVar | undefined): boolean {
    return relation?.relname !== undefined && this.createdRelations.has(relation.relname)
  }

  recordNotNullCheck(table: string, constraint: string, column: string, validated: boolean): void {
    this.notNullChecks.set(`${table}.${constraint}`, column)
    if (validated) this.provenNotNull.add(`${table}.${column}`)
  }

  recordValidated(table: string, constraint: string): void {
    const column = this.notNullChecks.get(`${table}.${constraint}`)
    if (column !== undefined) this.provenNotNull.add(`${table}.${column}`)
  }

  isProvenNotNull(table: string, column: string): boolean {
    return this.provenNotNull.has(`${table}.${column}`)
  }
}

/** Checks one statement; updates the file context with what it creates. */
export function checkStatement(node: Node, context: FileContext): Hit[] {
  if ('CreateStmt' in node) {
    // IF NOT EXISTS may find the old table: then it is not new.
    if (!node.CreateStmt.if_not_exists) remember(context.createdRelations, node.CreateStmt.relation?.relname)
    return []
  }
  if ('CreateTableAsStmt' in node) {
    if (!node.CreateTableAsStmt.if_not_exists)
      remember(context.createdRelations, node.CreateTableAsStmt.into?.rel?.relname)
    return []
  }
  if ('ViewStmt' in node) {
    if (!node.ViewStmt.replace) remember(context.createdRelations, node.ViewStmt.view?.relname)
    return []
  }
  if ('CreateEnumStmt' in node) {
    remember(context.createdTypes, lastName(node.CreateEnumStmt.typeName))
    return []
  }
  if ('CreateDomainStmt' in node) {
    remember(context.createdTypes, lastName(node.CreateDomainStmt.domainname))
    return []
  }
  if ('CompositeTypeStmt' in node) {
    remember(context.createdTypes, node.CompositeTypeStmt.typevar?.relname)
    return []
  }
  if ('DropStmt' in node) return checkDrop(node.DropStmt, context)
  if ('AlterTableStmt' in node) return checkAlterTable(node.AlterTableStmt, context)
  if ('RenameStmt' in node) return checkRename(node.RenameStmt, context)
  if ('AlterObjectSchemaStmt' in node) {
    const stmt = node.AlterObjectSchemaStmt
    if (stmt.relation && context.isNew(stmt.relation)) return []
    const relation = stmt.relation !== undefined
    return [
      {
        rule: relation ? 'rename-table' : 'rename-object',
        message: `SET SCHEMA moves ${relation ? qualified(stmt.relation) : objectKind(stmt.objectType)} to schema ${stmt.newschema ?? '?'}: the running version still uses the old name`,
        location: stmt.relation?.location,
      },
    ]
  }
  if ('AlterEnumStmt' in node) {
    const stmt = node.AlterEnumStmt
    const type = lastName(stmt.typeName) ?? '?'
    if (context.createdTypes.has(type)) return []
    if (stmt.oldVal !== undefined) {
      return [
        {
          rule: 'rename-object',
          message: `renaming value '${stmt.oldVal}' of enum ${type} breaks the running version, which uses the old value`,
        },
      ]
    }
    return [
      {
        rule: 'add-enum-value',
        message: `adding value '${stmt.newVal ?? '?'}' to enum ${type}: the running version may read a value it does not understand`,
      },
    ]
  }
  if ('IndexStmt' in node) {
    const stmt = node.IndexStmt
    if (!stmt.if_not_exists) remember(context.createdIndexes, stmt.idxname)
    if (stmt.concurrent || context.isNew(stmt.relation)) return []
    return [
      {
        rule: 'create-index',
        message: `CREATE ${stmt.unique ? 'UNIQUE ' : ''}INDEX${stmt.idxname ? ` ${stmt.idxname}` : ''} on ${qualified(stmt.relation)} without CONCURRENTLY blocks writes to the table while it builds`,
        location: stmt.relation?.location,
      },
    ]
  }
  if ('ReindexStmt' in node) {
    const stmt = node.ReindexStmt
    const concurrently = (stmt.params ?? []).some(
      (p) => 'DefElem' in p && p.DefElem.defname === 'concurrently',
    )
    if (concurrently) return []
    return [
      {
        rule: 'reindex',
        message: `REINDEX ${stmt.relation ? qualified(stmt.relation) + ' ' : ''}without CONCURRENTLY blocks writes while it rebuilds`,
        location: stmt.relation?.location,
      },
    ]
  }
  if ('TruncateStmt' in node) {
    const relations = (node.TruncateStmt.relations ?? []).flatMap((r) =>
      'RangeVar' in r ? [r.RangeVar] : [],
    )
    const existing = relations.filter((r) => !context.isNew(r))
    if (existing.length === 0) return []
    return [
      {
        rule: 'truncate',
        message: `TRUNCATE ${existing.map(qualified).join(', ')} destroys rows the running version still serves`,
        location: existing[0].location,
      },
    ]
  }
  if ('DeleteStmt' in node) {
    const stmt = node.DeleteStmt
    if (stmt.whereClause || context.isNew(stmt.relation)) return []
    return [
      {
        rule: 'delete-all-rows',
        message: `DELETE FROM ${qualified(stmt.relation)} without WHERE destroys rows the running version still serves`,
        location: stmt.relation?.location,
      },
    ]
  }
  if ('UpdateStmt' in node) {
    const stmt = node.UpdateStmt
    if (stmt.whereClause || context.isNew(stmt.relation)) return []
    return [
      {
        rule: 'bulk-update',
        message: `UPDATE ${qualified(stmt.relation)} without WHERE locks every row until the migration commits`,
        location: stmt.relation?.location,
      },
    ]
  }
  if ('VacuumStmt' in node) {
    const stmt = node.VacuumStmt
    const full = (stmt.options ?? []).some((o) => 'DefElem' in o && o.DefElem.defname === 'full')
    if (!stmt.is_vacuumcmd || !full) return []
    return [
      { rule: 'table-rewrite', message: 'VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock' },
    ]
  }
  if ('ClusterStmt' in node) {
    const stmt = node.ClusterStmt
    if (context.isNew(stmt.relation)) return []
    return [
      {
        rule: 'table-rewrite',
        message: `CLUSTER${stmt.relation ? ' ' + qualified(stmt.relation) : ''} rewrites the table under an ACCESS EXCLUSIVE lock`,
        location: stmt.relation?.location,
      },
    ]
  }
  if ('RefreshMatViewStmt' in node) {
    const stmt = node.RefreshMatViewStmt
    if (stmt.concurrent || context.isNew(stmt.relation)) return []
    return [
      {
        rule: 'refresh-materialized-view',
        message: `REFRESH MATERIALIZED VIEW ${qualified(stmt.relation)} without CONCURRENTLY blocks every read of it`,
        location: stmt.relation?.location,
      },
    ]
  }
  if ('AlterDomainStmt' in node) return checkAlterDomain(node.AlterDomainStmt, context)
  if ('TransactionStmt' in node) {
    const kind = (node.TransactionStmt.kind ?? '').replace('TRANS_STMT_', '').replace(/_/g, ' ')
    return [
      {
        rule: 'transaction-control',
        message: `${kind} inside a migration: the runner manages transactions itself`,
      },
    ]
  }
  if ('DoStmt' in node) {
    return [{ rule: 'do-block', message: 'DO block: the linter cannot check the statements inside it' }]
  }
  return []
}

function checkDrop(stmt: DropStmt, context: FileContext): Hit[] {
  const names = (stmt.objects ?? []).map(objectName)
  const existing = (set: Set<string>): string[] => names.filter((n) => !set.has(n.split('.').at(-1)!))
  const ifExists = stmt.missing_ok ? ' IF EXISTS' : ''
  switch (stmt.removeType) {
    case 'OBJECT_TABLE':
    case 'OBJECT_FOREIGN_TABLE': {
      const dropped = existing(context.createdRelations)
      if (dropped.length === 0) return []
      return [
        {
          rule: 'drop-table',
          message: `DROP TABLE${ifExists} ${dropped.join(', ')} removes a table the running version may still use`,
        },
      ]
    }
    case 'OBJECT_VIEW':
    case 'OBJECT_MATVIEW': {
      const dropped = existing(context.createdRelations)
      if (dropped.length === 0) return []
      const kind = stmt.removeType === 'OBJECT_VIEW' ? 'VIEW' : 'MATERIALIZED VIEW'
      return [
        {
          rule: 'drop-view',
          message: `DROP ${kind}${ifExists} ${dropped.join(', ')} removes a view the running version may still query`,
        },
      ]
    }
    case 'OBJECT_SCHEMA':
      return [
        {
          rule: 'drop-schema',
          message: `DROP SCHEMA${ifExists} ${names.join(', ')} removes everything in it`,
        },
      ]
    case 'OBJECT_INDEX': {
      if (stmt.concurrent) return []
      const dropped = existing(context.createdIndexes)
      if (dropped.length === 0) return []
      return [
        {
          rule: 'drop-index',
          message: `DROP INDEX${ifExists} ${dropped.join(', ')} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table`,
        },
      ]
    }
    case 'OBJECT_TYPE':
    case 'OBJECT_DOMAIN': {
      const dropped = existing(context.createdTypes)
      if (dropped.length === 0) return []
      return [
        {
          rule: 'drop-object',
          message: `DROP ${objectKind(stmt.removeType).toUpperCase()}${ifExists} ${dropped.join(', ')} breaks the running version if it uses it`,
        },
      ]
    }
    case 'OBJECT_FUNCTION':
    case 'OBJECT_PROCEDURE':
    case 'OBJECT_ROUTINE':
    case 'OBJECT_SEQUENCE':
      return [
        {
          rule: 'drop-object',
          message: `DROP ${objectKind(stmt.removeType).toUpperCase()}${ifExists} ${names.join(', ')} breaks the running version if it uses it`,
        },
      ]
    default:
      return []
  }
}

function checkAlterTable(stmt: AlterTableStmt, context: FileContext): Hit[] {
  const relation = stmt.relation
  if (context.isNew(relation)) return []
  const table = relation?.relname ?? '?'
  const name = qualified(relation)
  const hits: Hit[] = []
  for (const item of stmt.cmds ?? []) {
    if (!('AlterTableCmd' in item)) continue
    const cmd = item.AlterTableCmd
    switch (cmd.subtype) {
      case 'AT_DropColumn':
        hits.push({
          rule: 'drop-column',
          message: `dropping column ${name}.${cmd.name ?? '?'} breaks the running version, which may still use it`,
          location: relation?.location,
          near: near(/\bDROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?/, cmd.name),
        })
        break
      case 'AT_AlterColumnType':
        hits.push({
          rule: 'alter-column-type',
          message: `changing the type of ${name}.${cmd.name ?? '?'}${typeSuffix(cmd)} rewrites the table under an ACCESS EXCLUSIVE lock`,
          location: columnDefOf(cmd)?.location ?? relation?.location,
        })
        break
      case 'AT_SetNotNull':
        if (!context.isProvenNotNull(table, cmd.name ?? '')) {
          hits.push({
            rule: 'set-not-null',
            message: `SET NOT NULL on ${name}.${cmd.name ?? '?'} scans the whole table under an ACCESS EXCLUSIVE lock`,
            location: relation?.location,
            near: near(/\bALTER\s+(?:COLUMN\s+)?/, cmd.name),
          })
        }
        break
      case 'AT_ColumnDefault':
        if (cmd.def === undefined) {
          hits.push({
            rule: 'drop-default',
            message: `dropping the default of ${name}.${cmd.name ?? '?'} breaks INSERTs of the running version that rely on it`,
            location: relation?.location,
            near: near(/\bALTER\s+(?:COLUMN\s+)?/, cmd.name),
          })
        }
        break
      case 'AT_AddColumn': {
        const column = columnDefOf(cmd)
        if (column) hits.push(...checkAddColumn(name, column))
        break
      }
      case 'AT_AddConstraint': {
        const constraint = cmd.def && 'Constraint' in cmd.def ? cmd.def.Constraint : undefined
        if (constraint) hits.push(...checkAddConstraint(name, table, constraint, context))
        break
      }
      case 'AT_ValidateConstraint':
        context.recordValidated(table, cmd.name ?? '')
        break
      case 'AT_SetTableSpace':
        hits.push({
          rule: 'table-rewrite',
          message: `SET TABLESPACE rewrites ${name} under an ACCESS EXCLUSIVE lock`,
          location: relation?.location,
        })
        break
      case 'AT_SetLogged':
      case 'AT_SetUnLogged':
        hits.push({
          rule: 'table-rewrite',
          message: `SET ${cmd.subtype === 'AT_SetLogged' ? 'LOGGED' : 'UNLOGGED'} rewrites ${name} under an ACCESS EXCLUSIVE lock`,
          location: relation?.location,
        })
        break
      default:
        break
    }
  }
  return hits
}

function checkAddColumn(table: string, column: ColumnDef): Hit[] {
  const hits: Hit[] = []
  const name = `${table}.${column.colname ?? '?'}`
  const constraints = (column.constraints ?? []).flatMap((c) => ('Constraint' in c ? [c.Constraint] : []))
  const defaultExpr = constraints.find((c) => c.contype === 'CONSTR_DEFAULT')?.raw_expr ?? column.raw_default
  const hasDefault = defaultExpr !== undefined && !isNullConstant(defaultExpr)
  const typeName = lastName(column.typeName?.names)
  const serial = typeName !== undefined && serialTypes.has(typeName)
  const identity = constraints.some((c) => c.contype === 'CONSTR_IDENTITY')
  const generated = constraints.find((c) => c.contype === 'CONSTR_GENERATED')
  const at = column.location

  if (serial) {
    hits.push({
      rule: 'volatile-default',
      message: `adding ${typeName} column ${name} fills every row from a sequence, rewriting the table`,
      location: at,
    })
  } else if (identity) {
    hits.push({
      rule: 'volatile-default',
      message: `adding identity column ${name} fills every row from a sequence, rewriting the table`,
      location: at,
    })
  } else if (defaultExpr !== undefined) {
    const volatile = volatileCall(defaultExpr)
    if (volatile) {
      hits.push({
        rule: 'volatile-default',
        message: `column ${name} gets default ${volatile}, which is ${knownVolatile.has(volatile.replace('()', '')) ? 'volatile' : 'not known to be stable'}: adding it rewrites the table`,
        location: at,
      })
    }
  }
  if (generated) {
    hits.push({
      rule: 'add-stored-generated-column',
      message: `adding generated column ${name} computes every row, rewriting the table`,
      location: generated.location ?? at,
    })
  }
  const notNull =
    column.is_not_null === true ||
    constraints.some((c) => c.contype === 'CONSTR_NOTNULL' || c.contype === 'CONSTR_PRIMARY')
  if (notNull && !hasDefault && !serial && !identity && !generated) {
    hits.push({
      rule: 'add-not-null-column',
      message: `column ${name} is NOT NULL without a default: the running version’s INSERTs do not fill it`,
      location: at,
    })
  }
  for (const constraint of constraints) {
    switch (constraint.contype) {
      case 'CONSTR_UNIQUE':
      case 'CONSTR_PRIMARY':
        hits.push({
          rule: 'add-unique-constraint',
          message: `${constraint.contype === 'CONSTR_UNIQUE' ? 'UNIQUE' : 'PRIMARY KEY'} on new column ${name} builds an index while blocking writes`,
          location: constraint.location ?? at,
        })
        break
      case 'CONSTR_FOREIGN':
        hits.push({
          rule: 'add-foreign-key',
          message: `REFERENCES on new column ${name} validates the foreign key while locking both tables`,
          location: constraint.location ?? at,
        })
        break
      case 'CONSTR_CHECK':
        hits.push({
          rule: 'add-check-constraint',
          message: `CHECK on new column ${name} scans the table under an ACCESS EXCLUSIVE lock`,
          location: constraint.location ?? at,
        })
        break
      default:
        break
    }
  }
  return hits
}

function checkAddConstraint(
  name: string,
  table: string,
  constraint: Constraint,
  context: FileContext,
): Hit[] {
  const label = constraint.conname ? ` ${constraint.conname}` : ''
  const at = constraint.location
  switch (constraint.contype) {
    case 'CONSTR_FOREIGN':
      if (constraint.skip_validation) return []
      return [
        {
          rule: 'add-foreign-key',
          message: `foreign key${label} on ${name} without NOT VALID checks every row while locking both tables`,
          location: at,
        },
      ]
    case 'CONSTR_CHECK': {
      const column = notNullColumn(constraint.raw_expr)
      if (column !== undefined && constraint.conname) {
        context.recordNotNullCheck(table, constraint.conname, column, constraint.skip_validation !== true)
      }
      if (constraint.skip_validation) return []
      return [
        {
          rule: 'add-check-constraint',
          message: `check constraint${label} on ${name} without NOT VALID scans every row under an ACCESS EXCLUSIVE lock`,
          location: at,
        },
      ]
    }
    case 'CONSTR_UNIQUE':
    case 'CONSTR_PRIMARY':
    case 'CONSTR_EXCLUSION': {
      if (constraint.indexname) return []
      const kind = { CONSTR_UNIQUE: 'UNIQUE', CONSTR_PRIMARY: 'PRIMARY KEY', CONSTR_EXCLUSION: 'EXCLUDE' }[
        constraint.contype
      ]
      return [
        {
          rule: 'add-unique-constraint',
          message: `${kind} constraint${label} on ${name} builds its index while blocking writes`,
          location: at,
        },
      ]
    }
    default:
      return []
  }
}

function checkRename(stmt: RenameStmt, context: FileContext): Hit[] {
  const at = stmt.relation?.location
  switch (stmt.renameType) {
    case 'OBJECT_TABLE':
    case 'OBJECT_VIEW':
    case 'OBJECT_MATVIEW':
    case 'OBJECT_FOREIGN_TABLE':
      if (context.isNew(stmt.relation)) return []
      return [
        {
          rule: 'rename-table',
          message: `renaming ${qualified(stmt.relation)} to ${stmt.newname ?? '?'} breaks the running version, which uses the old name`,
          location: at,
        },
      ]
    case 'OBJECT_COLUMN':
      if (context.isNew(stmt.relation)) return []
      return [
        {
          rule: 'rename-column',
          message: `renaming column ${qualified(stmt.relation)}.${stmt.subname ?? '?'} to ${stmt.newname ?? '?'} breaks the running version, which uses the old name`,
          location: at,
        },
      ]
    case 'OBJECT_SCHEMA':
    case 'OBJECT_TYPE':
    case 'OBJECT_DOMAIN':
    case 'OBJECT_FUNCTION':
    case 'OBJECT_PROCEDURE':
    case 'OBJECT_ROUTINE':
    case 'OBJECT_SEQUENCE': {
      const old =
        stmt.subname ??
        (stmt.object ? objectName(stmt.object) : stmt.relation ? qualified(stmt.relation) : '?')
      if (
        (stmt.renameType === 'OBJECT_TYPE' || stmt.renameType === 'OBJECT_DOMAIN') &&
        context.createdTypes.has(old)
      )
        return []
      return [
        {
          rule: 'rename-object',
          message: `renaming ${objectKind(stmt.renameType)} ${old} to ${stmt.newname ?? '?'} breaks the running version, which uses the old name`,
          location: at,
        },
      ]
    }
    default:
      return []
  }
}

function checkAlterDomain(stmt: AlterDomainStmt, context: FileContext): Hit[] {
  const domain = lastName(stmt.typeName) ?? '?'
  if (context.createdTypes.has(domain)) return []
  if (stmt.subtype === 'O') {
    return [
      {
        rule: 'set-not-null',
        message: `SET NOT NULL on domain ${domain} scans every column of that type under lock`,
      },
    ]
  }
  if (stmt.subtype === 'C' && stmt.def && 'Constraint' in stmt.def && !stmt.def.Constraint.skip_validation) {
    return [
      {
        rule: 'add-check-constraint',
        message: `constraint on domain ${domain} without NOT VALID scans every column of that type under lock`,
        location: stmt.def.Constraint.location,
      },
    ]
  }
  return []
}

// ---- expressions -------------------------------------------------------------------------------

const serialTypes = new Set(['serial', 'serial2', 'serial4', 'serial8', 'smallserial', 'bigserial'])

/** Functions whose value changes per row: a default calling one must be computed for every row. */
const knownVolatile = new Set([
  'random',
  'random_normal',
  'gen_random_uuid',
  'uuid_generate_v1',
  'uuid_generate_v1mc',
  'uuid_generate_v4',
  'uuidv4',
  'uuidv7',
  'clock_timestamp',
  'timeofday',
  'nextval',
  'setseed',
  'txid_current',
  'pg_current_xact_id',
  'gen_random_bytes',
])

/**
 * Built-ins that are immutable or stable, so a default calling them is evaluated once and stored
 * as the column's "missing value" (no rewrite). Anything not listed is treated as possibly
 * volatile, because CREATE FUNCTION makes functions VOLATILE unless told otherwise.
 */
const nonVolatile = new Set([
  'now',
  'transaction_timestamp',
  'statement_timestamp',
  'current_setting',
  'lower',
  'upper',
  'initcap',
  'btrim',
  'ltrim',
  'rtrim',
  'trim',
  'length',
  'char_length',
  'abs',
  'round',
  'floor',
  'ceil',
  'ceiling',
  'coalesce',
  'nullif',
  'greatest',
  'least',
  'concat',
  'concat_ws',
  'format',
  'replace',
  'substr',
  'substring',
  'left',
  'right',
  'lpad',
  'rpad',
  'md5',
  'to_char',
  'to_date',
  'to_timestamp',
  'to_number',
  'date_trunc',
  'date_part',
  'extract',
  'make_date',
  'make_time',
  'make_timestamp',
  'make_timestamptz',
  'make_interval',
  'timezone',
  'jsonb_build_object',
  'json_build_object',
  'jsonb_build_array',
  'json_build_array',
  'to_jsonb',
  'to_json',
  'array_fill',
])

/** The first call in `expr` that may be volatile, as `name()`; undefined when none. */
function volatileCall(expr: Node): string | undefined {
  for (const call of findNodes(expr, 'FuncCall')) {
    const names = (call as { funcname?: Node[] }).funcname
    const name = lastName(names)?.toLowerCase()
    if (name === undefined) continue
    if (knownVolatile.has(name) || !nonVolatile.has(name)) return `${name}()`
  }
  return undefined
}

/**
 * A pattern for `prefix` followed by the identifier `name` (quoted or not), to find a command
 * in the statement's text; undefined when the name is unknown.
 */
function near(prefix: RegExp, name: string | undefined): RegExp | undefined {
  if (name === undefined) return undefined
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const bare = /^[a-z_][a-z0-9_$]*$/.test(name) ? `${escaped}(?![\\w$])|` : ''
  return new RegExp(`${prefix.source}(?:${bare}"${escaped.replace(/"/g, '""')}")`, 'i')
}

/** Every node of a kind inside a parse tree. */
function findNodes(value: unknown, kind: string): unknown[] {
  const found: unknown[] = []
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const item of v) visit(item)
    } else if (v !== null && typeof v === 'object') {
      for (const [key, child] of Object.entries(v)) {
        if (key === kind) found.push(child)
        visit(child)
      }
    }
  }
  visit(value)
  return found
}

function isNullConstant(expr: Node): boolean {
  return 'A_Const' in expr && expr.A_Const.isnull === true
}

/** The column of `col IS NOT NULL`, if that is the whole expression. */
function notNullColumn(expr: Node | undefined): string | undefined {
  if (!expr || !('NullTest' in expr) || expr.NullTest.nulltesttype !== 'IS_NOT_NULL') return undefined
  const arg = expr.NullTest.arg
  if (!arg || !('ColumnRef' in arg)) return undefined
  return lastName(arg.ColumnRef.fields)
}

// ---- names -------------------------------------------------------------------------------------

function remember(set: Set<string>, name: string | undefined): void {
  if (name !== undefined) set.add(name)
}

/** The last `String` of a name list (`pg_catalog.int4` → `int4`). */
function lastName(names: Node[] | undefined): string | undefined {
  const last = names?.at(-1)
  return last && 'String' in last ? last.String.sval : undefined
}

function dottedName(names: Node[] | undefined): string {
  return (names ?? [])
    .flatMap((n) => ('String' in n && n.String.sval !== undefined ? [n.String.sval] : []))
    .join('.')
}

function objectName(node: Node): string {
  if ('List' in node) return dottedName(node.List.items)
  if ('String' in node) return node.String.sval ?? '?'
  if ('TypeName' in node) return dottedName(node.TypeName.names)
  if ('ObjectWithArgs' in node) return dottedName(node.ObjectWithArgs.objname)
  return '?'
}

function qualified(relation: RangeVar | undefined): string {
  if (!relation?.relname) return '?'
  return relation.schemaname ? `${relation.schemaname}.${relation.relname}` : relation.relname
}

/** `OBJECT_FOREIGN_TABLE` → `foreign table`. */
function objectKind(type: string | undefined): string {
  const kind = (type ?? 'OBJECT_OBJECT').replace('OBJECT_', '').replace(/_/g, ' ').toLowerCase()
  return kind === 'matview' ? 'materialized view' : kind
}

function columnDefOf(cmd: AlterTableCmd): ColumnDef | undefined {
  return cmd.def && 'ColumnDef' in cmd.def ? cmd.def.ColumnDef : undefined
}

/** The parser's internal names for the types people write differently. */
const typeNames: Record<string, string> = {
  int2: 'smallint',
  int4: 'integer',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  bool: 'boolean',
  bpchar: 'char',
}

function typeSuffix(cmd: AlterTableCmd): string {
  const type = lastName(columnDefOf(cmd)?.typeName?.names)
  return type ? ` to ${typeNames[type] ?? type}` : ''
}
