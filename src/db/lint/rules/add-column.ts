/**
 * Columns added to an existing table (ALTER TABLE … ADD COLUMN), and json columns wherever they
 * are made. Constraints declared on an added column are constraints.ts's.
 */
import type { ColumnDef, Node } from 'libpg-query'
import type { AlterTarget, Report } from '../rule.js'
import { columnConstraints, columnTypeOf, findNodes, lastName, qualified } from '../names.js'
import { bothPhases, expandOnly, defineRule } from '../rule.js'

/** `table.column`, for messages. */
export function addedName(target: AlterTarget, column: ColumnDef): string {
  return `${target.name}.${column.colname ?? '?'}`
}

/** How an added column gets its values: the facts three rules decide on. */
function filling(column: ColumnDef) {
  const constraints = columnConstraints(column)
  const defaultExpr = constraints.find((c) => c.contype === 'CONSTR_DEFAULT')?.raw_expr ?? column.raw_default
  const typeName = lastName(column.typeName?.names)
  return {
    constraints,
    defaultExpr,
    typeName,
    serial: typeName !== undefined && serialTypes.has(typeName),
    identity: constraints.some((c) => c.contype === 'CONSTR_IDENTITY'),
    generated: constraints.find((c) => c.contype === 'CONSTR_GENERATED'),
  }
}

export const addNotNullColumn = defineRule({
  meta: {
    id: 'add-not-null-column',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Adding a NOT NULL column without a default fails on a non-empty table, and the running version’s INSERTs do not fill it.',
    hint: 'add the column as nullable or with a constant DEFAULT; enforce NOT NULL later with a CHECK (col IS NOT NULL) NOT VALID constraint',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN country text NOT NULL;',
      safe: "ALTER TABLE users ADD COLUMN country text NOT NULL DEFAULT 'unknown';",
    },
  },
  check: {
    AddColumn(column, _context, target) {
      const { constraints, defaultExpr, serial, identity, generated } = filling(column)
      const hasDefault = defaultExpr !== undefined && !isNullConstant(defaultExpr)
      const notNull =
        column.is_not_null === true ||
        constraints.some((c) => c.contype === 'CONSTR_NOTNULL' || c.contype === 'CONSTR_PRIMARY')
      if (!notNull || hasDefault || serial || identity || generated) return
      return {
        message: `column ${addedName(target, column)} is NOT NULL without a default: the running version’s INSERTs do not fill it`,
        location: column.location,
      }
    },
  },
})

export const volatileDefault = defineRule({
  meta: {
    id: 'volatile-default',
    severity: 'error',
    phases: bothPhases,
    summary:
      'Adding a column whose default is volatile (random(), gen_random_uuid(), clock_timestamp(), a serial or identity column) rewrites the whole table under an ACCESS EXCLUSIVE lock.',
    hint: 'add the column without a default (or with a constant or stable one such as now()), SET DEFAULT for new rows, and backfill existing rows in batches',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN public_id uuid DEFAULT gen_random_uuid();',
      safe: [
        'ALTER TABLE users ADD COLUMN public_id uuid;',
        'ALTER TABLE users ALTER COLUMN public_id SET DEFAULT gen_random_uuid();',
      ].join('\n'),
    },
  },
  check: {
    AddColumn(column, _context, target) {
      const { defaultExpr, typeName, serial, identity } = filling(column)
      const name = addedName(target, column)
      const at = column.location
      if (serial)
        return {
          message: `adding ${typeName} column ${name} fills every row from a sequence, rewriting the table`,
          location: at,
        }
      if (identity)
        return {
          message: `adding identity column ${name} fills every row from a sequence, rewriting the table`,
          location: at,
        }
      const volatile = defaultExpr && volatileCall(defaultExpr)
      if (!volatile) return
      return {
        message: `column ${name} gets default ${volatile}, which is ${knownVolatile.has(volatile.replace('()', '')) ? 'volatile' : 'not known to be stable'}: adding it rewrites the table`,
        location: at,
      }
    },
  },
})

export const addStoredGeneratedColumn = defineRule({
  meta: {
    id: 'add-stored-generated-column',
    severity: 'error',
    phases: bothPhases,
    summary: 'Adding a GENERATED ... STORED column rewrites the whole table under an ACCESS EXCLUSIVE lock.',
    hint: 'add a plain column, fill it with a trigger for new rows and a batched backfill for old ones',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN email_lower text GENERATED ALWAYS AS (lower(email)) STORED;',
      safe: 'ALTER TABLE users ADD COLUMN email_lower text;',
    },
  },
  check: {
    AddColumn(column, _context, target) {
      const { generated } = filling(column)
      if (!generated) return
      return {
        message: `adding generated column ${addedName(target, column)} computes every row, rewriting the table`,
        location: generated.location ?? column.location,
      }
    },
  },
})

function jsonColumn(name: string, column: ColumnDef): Report | undefined {
  if (columnTypeOf(column.typeName)?.name !== 'json') return undefined
  return {
    message: `column ${name} is json, which has no equality: SELECT DISTINCT, UNION and GROUP BY over it fail`,
    location: column.location,
  }
}

export const jsonColumnRule = defineRule({
  meta: {
    id: 'json-column',
    severity: 'warning',
    phases: bothPhases,
    summary:
      'A json column has no equality operator: SELECT DISTINCT, UNION, GROUP BY and comparisons over it fail, and every read parses the text again.',
    hint: 'use jsonb: it compares, groups, indexes, and is parsed once when written',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN settings json;',
      safe: "ALTER TABLE users ADD COLUMN settings jsonb DEFAULT '{}';",
    },
  },
  check: {
    CreateStmt(stmt) {
      return (stmt.tableElts ?? []).flatMap((element) => {
        if (!('ColumnDef' in element)) return []
        const column = element.ColumnDef
        return jsonColumn(`${qualified(stmt.relation)}.${column.colname ?? '?'}`, column) ?? []
      })
    },
    AddColumn(column, _context, target) {
      return jsonColumn(addedName(target, column), column)
    },
  },
})

// ---- default expressions -----------------------------------------------------------------------

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

function isNullConstant(expr: Node): boolean {
  return 'A_Const' in expr && expr.A_Const.isnull === true
}
