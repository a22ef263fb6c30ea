/** ALTER TABLE commands that break the running version or lock the table through a scan or rewrite. */
import type { AlterTableCmd, Node } from 'libpg-query'
import { mayWidenTo, sameType, typeLabel, widensWithoutRewrite, type ColumnType } from '../knowledge.js'
import { columnDefOf, columnTypeOf, lastName, near, qualified } from '../names.js'
import { bothPhases, expandOnly, defineRule } from '../rule.js'

export const dropColumn = defineRule({
  meta: {
    id: 'drop-column',
    severity: 'error',
    phases: expandOnly,
    summary: 'Dropping a column breaks the running version, which may still select or insert it.',
    hint: 'stop using the column in this release, and drop it in a contract migration',
    example: {
      unsafe: 'ALTER TABLE users DROP COLUMN nickname;',
      safe: 'ALTER TABLE users ALTER COLUMN nickname DROP NOT NULL;',
    },
  },
  check: {
    AlterTableCmd(cmd, _context, { stmt, name }) {
      if (cmd.subtype !== 'AT_DropColumn') return
      return {
        message: `dropping column ${name}.${cmd.name ?? '?'} breaks the running version, which may still use it`,
        location: stmt.relation?.location,
        near: near(/\bDROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?/, cmd.name),
      }
    },
  },
})

export const alterColumnType = defineRule({
  meta: {
    id: 'alter-column-type',
    severity: 'error',
    phases: bothPhases,
    summary:
      'Changing a column’s type rewrites the table (and its indexes) under an ACCESS EXCLUSIVE lock, and the running version may not read the new type. Changes PostgreSQL makes without a rewrite pass (varchar(n) to varchar(m > n) or text, numeric precision up with the same scale, timestamp precision up, cidr to inet): the old type comes from earlier files of the directory and, at release time, from the live catalog; when neither tells and no USING converts the values, `bluegreen lint` lets such a change pass and the runner checks it before applying.',
    hint: 'add a column of the new type, backfill it, switch the code, and drop the old column in a contract migration',
    example: {
      unsafe: 'ALTER TABLE orders ALTER COLUMN total TYPE bigint;',
      safe: [
        'ALTER TABLE orders ADD COLUMN total_cents bigint;',
        '-- widening without a rewrite passes: varchar(n) to varchar(m > n) or text, numeric precision up, cidr to inet',
        'ALTER TABLE orders ALTER COLUMN note TYPE text;',
      ].join('\n'),
    },
  },
  check: {
    AlterTableCmd(cmd, context, { stmt, table, name }) {
      if (cmd.subtype !== 'AT_AlterColumnType') return
      const def = columnDefOf(cmd)
      const to = columnTypeOf(def?.typeName)
      const from = context.knowledge.columnType(table, cmd.name ?? '')
      // A USING expression converts every value: a rewrite whatever the types; but not one that
      // only casts the column to its new type, as Django writes on every change.
      const converts = def?.raw_default !== undefined && !castsColumnTo(def.raw_default, cmd.name, to)
      const widening =
        to !== undefined && !converts && (from ? widensWithoutRewrite(from, to) : mayWidenTo(to))
      if (widening) return
      return {
        message: `changing the type of ${name}.${cmd.name ?? '?'}${from ? ` from ${typeLabel(from)}` : ''}${to ? ` to ${typeLabel(to)}` : ''} rewrites the table under an ACCESS EXCLUSIVE lock`,
        location: def?.location ?? stmt.relation?.location,
      }
    },
  },
})

/** Whether `using` is `column::to` (or CAST(column AS to)): the conversion the change makes anyway. */
function castsColumnTo(using: Node, column: string | undefined, to: ColumnType | undefined): boolean {
  if (!('TypeCast' in using) || to === undefined || column === undefined) return false
  const { arg, typeName } = using.TypeCast
  const cast = columnTypeOf(typeName)
  return (
    arg !== undefined &&
    'ColumnRef' in arg &&
    arg.ColumnRef.fields?.length === 1 &&
    lastName(arg.ColumnRef.fields) === column &&
    cast !== undefined &&
    sameType(cast, to)
  )
}

/** The index of an ADD PRIMARY KEY USING INDEX, or undefined. */
function primaryKeyUsingIndex(cmd: AlterTableCmd): string | undefined {
  if (cmd.subtype !== 'AT_AddConstraint' || !cmd.def || !('Constraint' in cmd.def)) return undefined
  const constraint = cmd.def.Constraint
  return constraint.contype === 'CONSTR_PRIMARY' ? constraint.indexname : undefined
}

export const setNotNull = defineRule({
  meta: {
    id: 'set-not-null',
    severity: 'error',
    phases: bothPhases,
    summary:
      'SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock (and rejects the running version’s INSERTs that leave the column out).',
    hint: 'ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT c (no blocking lock), then SET NOT NULL uses the constraint and skips the scan',
    example: {
      unsafe: 'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
      safe: [
        'ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;',
        'ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;',
        'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
      ].join('\n'),
    },
  },
  check: {
    AlterTableCmd(cmd, context, { stmt, table, name }) {
      const usingIndex = primaryKeyUsingIndex(cmd)
      if (usingIndex !== undefined) {
        // The key's columns become NOT NULL: PostgreSQL scans for NULLs in each that is not proven
        // NOT NULL. Only a column known to be nullable (from the files or the catalog) is flagged.
        const index = context.knowledge.index(`${table.split('.')[0]}.${usingIndex}`)
        const nullable =
          index?.columns.filter(
            (c) =>
              context.knowledge.columnType(table, c) !== undefined &&
              !context.knowledge.isProvenNotNull(table, c),
          ) ?? []
        if (nullable.length === 0) return
        return {
          message: `PRIMARY KEY USING INDEX ${usingIndex} sets NOT NULL on ${nullable.map((c) => `${name}.${c}`).join(', ')}, which scans the whole table under an ACCESS EXCLUSIVE lock`,
          location: stmt.relation?.location,
        }
      }
      if (cmd.subtype !== 'AT_SetNotNull' || context.knowledge.isProvenNotNull(table, cmd.name ?? '')) return
      return {
        message: `SET NOT NULL on ${name}.${cmd.name ?? '?'} scans the whole table under an ACCESS EXCLUSIVE lock`,
        location: stmt.relation?.location,
        near: near(/\bALTER\s+(?:COLUMN\s+)?/, cmd.name),
      }
    },
    AlterDomainStmt(stmt, context) {
      if (stmt.subtype !== 'O' || context.has('type', context.key(stmt.typeName))) return
      return {
        message: `SET NOT NULL on domain ${lastName(stmt.typeName) ?? '?'} scans every column of that type under lock`,
      }
    },
  },
})

export const dropDefault = defineRule({
  meta: {
    id: 'drop-default',
    severity: 'warning',
    phases: expandOnly,
    summary:
      'Dropping a column default breaks the running version’s INSERTs that rely on it: a warning, and an error when the column is NOT NULL (as Django’s AddField of a NOT NULL column with a default leaves it), where every such INSERT fails.',
    hint: 'keep the default until the old version is gone, and drop it in a contract migration',
    example: {
      unsafe: 'ALTER TABLE users ALTER COLUMN role DROP DEFAULT;',
      safe: "ALTER TABLE users ALTER COLUMN role SET DEFAULT 'member';",
    },
  },
  check: {
    AlterTableCmd(cmd, context, { stmt, table, name }) {
      if (cmd.subtype !== 'AT_ColumnDefault' || cmd.def !== undefined) return
      const notNull = context.knowledge.isProvenNotNull(table, cmd.name ?? '')
      return {
        message: notNull
          ? `dropping the default of NOT NULL column ${name}.${cmd.name ?? '?'} makes every INSERT of the running version that leaves it out fail`
          : `dropping the default of ${name}.${cmd.name ?? '?'} breaks INSERTs of the running version that rely on it`,
        location: stmt.relation?.location,
        near: near(/\bALTER\s+(?:COLUMN\s+)?/, cmd.name),
        ...(notNull ? { severity: 'error' as const } : {}),
      }
    },
  },
})

export const detachPartition = defineRule({
  meta: {
    id: 'detach-partition',
    severity: 'error',
    phases: bothPhases,
    summary:
      'DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the partitioned table, blocking every query on it.',
    hint: 'use ALTER TABLE … DETACH PARTITION … CONCURRENTLY (PostgreSQL 14+; bluegreen runs it outside a transaction)',
    example: {
      unsafe: 'ALTER TABLE events DETACH PARTITION events_2023;',
      safe: 'ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;',
    },
  },
  check: {
    AlterTableCmd(cmd, _context, { stmt, name }) {
      if (cmd.subtype !== 'AT_DetachPartition') return
      const partition = cmd.def && 'PartitionCmd' in cmd.def ? cmd.def.PartitionCmd : undefined
      if (partition?.concurrent) return
      return {
        message: `DETACH PARTITION ${qualified(partition?.name)} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on ${name}`,
        location: partition?.name?.location ?? stmt.relation?.location,
      }
    },
  },
})
