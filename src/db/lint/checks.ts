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
  TypeName,
} from 'libpg-query'
import { optionEnabled } from '../sql-file.js'
import { mayWidenTo, SchemaKnowledge, typeLabel, widensWithoutRewrite, type ColumnType } from './knowledge.js'
import type { RuleId } from './rules.js'

export interface Hit {
  rule: RuleId
  message: string
  /** Byte offset of the offending node; the statement's start when absent. */
  location?: number
  /** For parts the parse tree gives no location (a DROP COLUMN): found in the statement's text. */
  near?: RegExp
}

/**
 * What earlier statements of the same file created, and the lock the open transaction holds.
 * Names are schema-qualified: a table created as `a.t` is not `b.t`; an unqualified name is in
 * the first schema of the file's `SET search_path` (public until one is set).
 */
export class FileContext {
  private readonly created = new Set<string>()
  private schema = 'public'
  /** The statement whose lock (one that blocks the application) the open transaction holds. */
  lockHeldBy: string | undefined

  constructor(readonly knowledge = new SchemaKnowledge()) {}

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

type ObjectKind = 'relation' | 'type' | 'index' | 'function' | 'trigger'

/**
 * Checks one statement; updates the file context with what it creates and the locks it takes.
 * (The caller resets `context.lockHeldBy` where the runner commits: around statements that run
 * alone.)
 */
export function checkStatement(node: Node, context: FileContext): Hit[] {
  const hits: Hit[] = []
  const long = context.lockHeldBy !== undefined ? longRunning(node, context) : undefined
  if (long) {
    hits.push({
      rule: 'long-statement-under-lock',
      message: `${long} runs in the same transaction as ${context.lockHeldBy}, whose lock blocks the application until the whole file commits`,
    })
  }
  const lock = blockingLock(node, context)
  hits.push(...checkOne(node, context))
  if (lock) context.lockHeldBy ??= lock
  return hits
}

function checkOne(node: Node, context: FileContext): Hit[] {
  if ('VariableSetStmt' in node) {
    const stmt = node.VariableSetStmt
    const first = stmt.args?.[0]
    if (stmt.name === 'search_path' && first && 'A_Const' in first && first.A_Const.sval?.sval)
      context.setSearchPath(first.A_Const.sval.sval)
    return []
  }
  if ('CreateStmt' in node) {
    const stmt = node.CreateStmt
    const table = context.key(stmt.relation)
    // IF NOT EXISTS may find the old table: then it is not new.
    if (!stmt.if_not_exists) context.remember('relation', table)
    const hits: Hit[] = []
    for (const element of stmt.tableElts ?? []) {
      if (!('ColumnDef' in element)) continue
      const column = element.ColumnDef
      const type = columnTypeOf(column.typeName)
      if (table && column.colname && type) context.knowledge.setColumnType(table, column.colname, type)
      const json = jsonColumn(`${qualified(stmt.relation)}.${column.colname ?? '?'}`, column)
      if (json) hits.push(json)
    }
    return hits
  }
  if ('CreateTableAsStmt' in node) {
    if (!node.CreateTableAsStmt.if_not_exists)
      context.remember('relation', context.key(node.CreateTableAsStmt.into?.rel))
    return []
  }
  if ('ViewStmt' in node) {
    const stmt = node.ViewStmt
    const view = context.key(stmt.view)
    if (!stmt.replace) {
      context.remember('relation', view)
      return []
    }
    if (context.has('relation', view)) return []
    return [replaced('view', qualified(stmt.view), stmt.view?.location)]
  }
  if ('CreateFunctionStmt' in node) {
    const stmt = node.CreateFunctionStmt
    const name = context.key(stmt.funcname)
    if (!stmt.replace) {
      context.remember('function', name)
      return []
    }
    if (context.has('function', name)) return []
    return [replaced(stmt.is_procedure ? 'procedure' : 'function', dottedName(stmt.funcname))]
  }
  if ('CreateTrigStmt' in node) {
    const stmt = node.CreateTrigStmt
    const name = `${context.key(stmt.relation) ?? '?'}.${stmt.trigname ?? '?'}`
    if (!stmt.replace || context.isNew(stmt.relation)) {
      context.remember('trigger', name)
      return []
    }
    if (context.has('trigger', name)) return []
    return [
      replaced('trigger', `${stmt.trigname ?? '?'} on ${qualified(stmt.relation)}`, stmt.relation?.location),
    ]
  }
  if ('RuleStmt' in node) {
    const stmt = node.RuleStmt
    if (!stmt.replace || context.isNew(stmt.relation)) return []
    return [
      replaced('rule', `${stmt.rulename ?? '?'} on ${qualified(stmt.relation)}`, stmt.relation?.location),
    ]
  }
  if ('CreateEnumStmt' in node) {
    context.remember('type', context.key(node.CreateEnumStmt.typeName))
    return []
  }
  if ('CreateDomainStmt' in node) {
    context.remember('type', context.key(node.CreateDomainStmt.domainname))
    return []
  }
  if ('CompositeTypeStmt' in node) {
    context.remember('type', context.key(node.CompositeTypeStmt.typevar))
    return []
  }
  if ('DropdbStmt' in node) {
    return [
      {
        rule: 'drop-database',
        message: `DROP DATABASE ${node.DropdbStmt.dbname ?? '?'} destroys every table the application uses`,
      },
    ]
  }
  if ('LockStmt' in node) {
    const stmt = node.LockStmt
    const relations = (stmt.relations ?? []).flatMap((r) => ('RangeVar' in r ? [r.RangeVar] : []))
    const existing = relations.filter((r) => !context.isNew(r))
    // SHARE (5) and stronger modes block writes; the weaker ones block only DDL and VACUUM.
    if ((stmt.mode ?? 8) < 5 || existing.length === 0) return []
    return [
      {
        rule: 'lock-table',
        message: `LOCK TABLE ${existing.map(qualified).join(', ')} in ${lockModes[stmt.mode ?? 8]} mode blocks the application's ${(stmt.mode ?? 8) >= 7 ? 'reads and writes' : 'writes'} until the migration commits`,
        location: existing[0].location,
      },
    ]
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
    if (context.has('type', context.key(stmt.typeName))) return []
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
    if (!stmt.if_not_exists && stmt.idxname)
      context.remember(
        'index',
        `${stmt.relation?.schemaname ?? context.key([])?.split('.')[0] ?? 'public'}.${stmt.idxname}`,
      )
    // ON ONLY a partitioned table: an invalid index on the parent alone, built by nothing.
    if (stmt.concurrent || context.isNew(stmt.relation) || stmt.relation?.inh !== true) return []
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
    if (optionEnabled(stmt.params, 'concurrently')) return []
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
    if (!stmt.is_vacuumcmd || !optionEnabled(stmt.options, 'full')) return []
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
  // DO blocks: the caller checks the statements of their body (sql-file.ts reads them).
  return []
}

function checkDrop(stmt: DropStmt, context: FileContext): Hit[] {
  const objects = stmt.objects ?? []
  const names = objects.map(objectName)
  const existing = (kind: ObjectKind): string[] =>
    names.filter((_n, i) => !context.has(kind, context.key(nameList(objects[i]))))
  if (stmt.removeType === 'OBJECT_TABLE') {
    for (const object of objects) {
      const key = context.key(nameList(object))
      if (key) context.knowledge.forgetTable(key)
    }
  }
  const ifExists = stmt.missing_ok ? ' IF EXISTS' : ''
  switch (stmt.removeType) {
    case 'OBJECT_TABLE':
    case 'OBJECT_FOREIGN_TABLE': {
      const dropped = existing('relation')
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
      const dropped = existing('relation')
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
      const dropped = existing('index')
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
      const dropped = existing('type')
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
  const table = context.key(relation) ?? '?'
  const name = qualified(relation)
  const cmds = (stmt.cmds ?? []).flatMap((item) => ('AlterTableCmd' in item ? [item.AlterTableCmd] : []))
  if (context.isNew(relation)) {
    for (const cmd of cmds) learn(cmd, table, context)
    return []
  }
  const hits: Hit[] = []
  const validate = cmds.find((cmd) => cmd.subtype === 'AT_ValidateConstraint')
  const locking = cmds.find((cmd) => !weakAlterCommands.has(cmd.subtype ?? ''))
  if (validate && locking && stmt.objtype !== 'OBJECT_INDEX') {
    hits.push({
      rule: 'long-statement-under-lock',
      message: `VALIDATE CONSTRAINT ${validate.name ?? '?'} scans ${name} in the same ALTER TABLE as ${commandLabel(locking)}, which holds an ACCESS EXCLUSIVE lock through the scan`,
      location: relation?.location,
      near: near(/\bVALIDATE\s+CONSTRAINT\s+/, validate.name),
    })
  }
  for (const cmd of cmds) {
    switch (cmd.subtype) {
      case 'AT_DropColumn':
        hits.push({
          rule: 'drop-column',
          message: `dropping column ${name}.${cmd.name ?? '?'} breaks the running version, which may still use it`,
          location: relation?.location,
          near: near(/\bDROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?/, cmd.name),
        })
        break
      case 'AT_AlterColumnType': {
        const def = columnDefOf(cmd)
        const to = columnTypeOf(def?.typeName)
        const from = context.knowledge.columnType(table, cmd.name ?? '')
        // A USING expression converts every value: a rewrite whatever the types.
        const widening =
          to !== undefined &&
          def?.raw_default === undefined &&
          (from ? widensWithoutRewrite(from, to) : mayWidenTo(to))
        if (!widening) {
          hits.push({
            rule: 'alter-column-type',
            message: `changing the type of ${name}.${cmd.name ?? '?'}${from ? ` from ${typeLabel(from)}` : ''}${to ? ` to ${typeLabel(to)}` : ''} rewrites the table under an ACCESS EXCLUSIVE lock`,
            location: def?.location ?? relation?.location,
          })
        }
        break
      }
      case 'AT_DetachPartition': {
        const partition = cmd.def && 'PartitionCmd' in cmd.def ? cmd.def.PartitionCmd : undefined
        if (partition?.concurrent) break
        hits.push({
          rule: 'detach-partition',
          message: `DETACH PARTITION ${qualified(partition?.name)} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on ${name}`,
          location: partition?.name?.location ?? relation?.location,
        })
        break
      }
      case 'AT_SetNotNull':
        if (!context.knowledge.isProvenNotNull(table, cmd.name ?? '')) {
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
      case 'AT_ValidateConstraint':
        break
      case 'AT_AddConstraint': {
        const constraint = cmd.def && 'Constraint' in cmd.def ? cmd.def.Constraint : undefined
        if (constraint) hits.push(...checkAddConstraint(name, constraint))
        break
      }
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
    learn(cmd, table, context)
  }
  return hits
}

/** What an ALTER TABLE command tells about the table's columns from now on. */
function learn(cmd: AlterTableCmd, table: string, context: FileContext): void {
  const column = cmd.name ?? ''
  switch (cmd.subtype) {
    case 'AT_AddColumn':
    case 'AT_AlterColumnType': {
      const def = columnDefOf(cmd)
      const type = columnTypeOf(def?.typeName)
      if (type) context.knowledge.setColumnType(table, def?.colname ?? column, type)
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
      const checked = constraint?.contype === 'CONSTR_CHECK' ? notNullColumn(constraint.raw_expr) : undefined
      if (constraint?.conname && checked !== undefined)
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

/** ALTER TABLE commands that take a lock the application does not wait for (SHARE UPDATE EXCLUSIVE). */
const weakAlterCommands = new Set([
  'AT_ValidateConstraint',
  'AT_SetStatistics',
  'AT_SetOptions',
  'AT_ResetOptions',
  'AT_ClusterOn',
  'AT_DropCluster',
  'AT_AttachPartition',
  'AT_DetachPartitionFinalize',
])

function commandLabel(cmd: AlterTableCmd): string {
  return (cmd.subtype ?? 'AT_?')
    .replace('AT_', '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase()
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
  const json = jsonColumn(name, column)
  if (json) hits.push(json)

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

function checkAddConstraint(name: string, constraint: Constraint): Hit[] {
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
        stmt.object &&
        context.has('type', context.key(nameList(stmt.object)))
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
  if (context.has('type', context.key(stmt.typeName))) return []
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

/** A column's type as the parser has it: `character varying(150)` is varchar with [150]. */
function columnTypeOf(typeName: TypeName | undefined): ColumnType | undefined {
  const name = lastName(typeName?.names)
  if (name === undefined || typeName?.setof || typeName?.pct_type) return undefined
  const mods: number[] = []
  for (const mod of typeName?.typmods ?? []) {
    if (!('A_Const' in mod)) return undefined
    mods.push(mod.A_Const.ival?.ival ?? 0)
  }
  return { name, mods, array: (typeName?.arrayBounds ?? []).length > 0 }
}

function jsonColumn(name: string, column: ColumnDef): Hit | undefined {
  const type = columnTypeOf(column.typeName)
  if (type?.name !== 'json') return undefined
  return {
    rule: 'json-column',
    message: `column ${name} is json, which has no equality: SELECT DISTINCT, UNION and GROUP BY over it fail`,
    location: column.location,
  }
}

function replaced(kind: string, name: string, location?: number): Hit {
  return {
    rule: 'create-or-replace',
    message: `CREATE OR REPLACE ${kind.toUpperCase()} ${name} changes logic the running version still uses`,
    location,
  }
}

const lockModes = [
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

/** The name list of a DROP or RENAME object (`[schema, name]`, `[name]`). */
function nameList(node: Node): Node[] {
  if ('List' in node) return node.List.items ?? []
  if ('String' in node) return [node]
  if ('TypeName' in node) return node.TypeName.names ?? []
  if ('ObjectWithArgs' in node) return node.ObjectWithArgs.objname ?? []
  return []
}

// ---- locks held and long statements -------------------------------------------------------------

/**
 * The lock a statement takes that makes the application wait (it blocks reads or writes of an
 * existing table), held until the transaction commits; undefined when it takes none.
 */
function blockingLock(node: Node, context: FileContext): string | undefined {
  const on = (relation: RangeVar | undefined, what: string) =>
    relation && !context.isNew(relation) ? `${what} ${qualified(relation)}` : undefined
  if ('AlterTableStmt' in node) {
    const stmt = node.AlterTableStmt
    if (stmt.objtype === 'OBJECT_INDEX') return undefined
    const strong = (stmt.cmds ?? []).some(
      (c) => 'AlterTableCmd' in c && !weakAlterCommands.has(c.AlterTableCmd.subtype ?? ''),
    )
    return strong ? on(stmt.relation, 'ALTER TABLE') : undefined
  }
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
  const relations = (list: Node[] | undefined) =>
    (list ?? []).flatMap((r) => ('RangeVar' in r ? [r.RangeVar] : []))
  if ('TruncateStmt' in node)
    return on(
      relations(node.TruncateStmt.relations).find((r) => !context.isNew(r)),
      'TRUNCATE',
    )
  if ('LockStmt' in node && (node.LockStmt.mode ?? 8) >= 5)
    return on(
      relations(node.LockStmt.relations).find((r) => !context.isNew(r)),
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
 * Whether a statement may run long: it reads or writes many rows of an existing table (an UPDATE
 * or DELETE not pinned to keys, INSERT … SELECT, CREATE TABLE … AS, a SELECT from a table).
 */
function longRunning(node: Node, context: FileContext): string | undefined {
  if ('UpdateStmt' in node) {
    const stmt = node.UpdateStmt
    if (context.isNew(stmt.relation) || pinned(stmt.whereClause)) return undefined
    return `UPDATE ${qualified(stmt.relation)}`
  }
  if ('DeleteStmt' in node) {
    const stmt = node.DeleteStmt
    if (context.isNew(stmt.relation) || pinned(stmt.whereClause)) return undefined
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

/** A WHERE that picks rows by key (`id = 1`, `id IN (1, 2)`, either under AND): a few rows, fast. */
function pinned(where: Node | undefined): boolean {
  if (!where) return false
  if ('BoolExpr' in where)
    return where.BoolExpr.boolop === 'AND_EXPR' && (where.BoolExpr.args ?? []).some(pinned)
  if (!('A_Expr' in where)) return false
  const expr = where.A_Expr
  const constant = (n: Node | undefined): boolean =>
    n !== undefined && ('A_Const' in n || 'ParamRef' in n || ('TypeCast' in n && constant(n.TypeCast.arg)))
  const column = (n: Node | undefined) => n !== undefined && 'ColumnRef' in n
  const operator = lastName(expr.name)
  if (expr.kind === 'AEXPR_OP' && operator === '=')
    return (column(expr.lexpr) && constant(expr.rexpr)) || (column(expr.rexpr) && constant(expr.lexpr))
  if (expr.kind === 'AEXPR_IN' && operator === '=') {
    const list = expr.rexpr && 'List' in expr.rexpr ? (expr.rexpr.List.items ?? []) : []
    return column(expr.lexpr) && list.length > 0 && list.every(constant)
  }
  return false
}
