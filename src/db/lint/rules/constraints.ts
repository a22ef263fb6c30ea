/**
 * Constraints added to an existing table or domain: ADD CONSTRAINT, and constraints declared on
 * an added column. Each validates every row (or builds an index) while it blocks writes, unless
 * it is NOT VALID (or USING INDEX).
 */
import type { AlterTableCmd, ColumnDef, Constraint } from 'libpg-query'
import { columnConstraints, lastName } from '../names.js'
import { bothPhases, defineRule, type AlterTarget, type Report } from '../rule.js'
import { addedName } from './add-column.js'

function addedConstraint(cmd: AlterTableCmd): Constraint | undefined {
  if (cmd.subtype !== 'AT_AddConstraint') return undefined
  return cmd.def && 'Constraint' in cmd.def ? cmd.def.Constraint : undefined
}

function label(constraint: Constraint): string {
  return constraint.conname ? ` ${constraint.conname}` : ''
}

/** A report for each of an added column's constraints that `message` names. */
function onAddedColumn(
  column: ColumnDef,
  target: AlterTarget,
  message: (constraint: Constraint, name: string) => string | undefined,
): Report[] {
  const name = addedName(target, column)
  return columnConstraints(column).flatMap((constraint) => {
    const text = message(constraint, name)
    return text === undefined ? [] : [{ message: text, location: constraint.location ?? column.location }]
  })
}

/** Whether an added column has a value in existing rows: a default, an identity or a generated one. */
function givesValues(column: ColumnDef): boolean {
  if (column.raw_default !== undefined || column.identity) return true
  return columnConstraints(column).some((c) =>
    ['CONSTR_DEFAULT', 'CONSTR_IDENTITY', 'CONSTR_GENERATED'].includes(c.contype ?? ''),
  )
}

export const addForeignKey = defineRule({
  meta: {
    id: 'add-foreign-key',
    severity: 'error',
    phases: bothPhases,
    summary: 'Adding a foreign key checks every row while it locks both tables against writes.',
    hint: 'ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in a later statement (it takes a lock that lets reads and writes go on)',
    example: {
      unsafe: 'ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);',
      safe: [
        'ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;',
        'ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;',
      ].join('\n'),
    },
  },
  check: {
    AlterTableCmd(cmd, _context, { name }) {
      const constraint = addedConstraint(cmd)
      if (constraint?.contype !== 'CONSTR_FOREIGN' || constraint.skip_validation) return
      return {
        message: `foreign key${label(constraint)} on ${name} without NOT VALID checks every row while locking both tables`,
        location: constraint.location,
      }
    },
    AddColumn(column, _context, target) {
      // A new column with no default is NULL in every row: PostgreSQL has nothing to check, and
      // the lock on both tables is as brief as the ADD COLUMN's own.
      if (!givesValues(column)) return
      return onAddedColumn(column, target, (constraint, name) =>
        constraint.contype === 'CONSTR_FOREIGN' && !constraint.skip_validation
          ? `REFERENCES on new column ${name}, which has a default, validates the foreign key on every row while locking both tables`
          : undefined,
      )
    },
  },
})

export const addCheckConstraint = defineRule({
  meta: {
    id: 'add-check-constraint',
    severity: 'error',
    phases: bothPhases,
    summary: 'Adding a CHECK constraint scans every row under an ACCESS EXCLUSIVE lock.',
    hint: 'ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT in a later statement',
    example: {
      unsafe: 'ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0);',
      safe: [
        'ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;',
        'ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;',
      ].join('\n'),
    },
  },
  check: {
    AlterTableCmd(cmd, _context, { name }) {
      const constraint = addedConstraint(cmd)
      if (constraint?.contype !== 'CONSTR_CHECK' || constraint.skip_validation) return
      return {
        message: `check constraint${label(constraint)} on ${name} without NOT VALID scans every row under an ACCESS EXCLUSIVE lock`,
        location: constraint.location,
      }
    },
    AddColumn(column, _context, target) {
      return onAddedColumn(column, target, (constraint, name) =>
        constraint.contype === 'CONSTR_CHECK'
          ? `CHECK on new column ${name} scans the table under an ACCESS EXCLUSIVE lock`
          : undefined,
      )
    },
    AlterDomainStmt(stmt, context) {
      if (stmt.subtype !== 'C' || context.has('type', context.key(stmt.typeName))) return
      const constraint = stmt.def && 'Constraint' in stmt.def ? stmt.def.Constraint : undefined
      if (!constraint || constraint.skip_validation) return
      return {
        message: `constraint on domain ${lastName(stmt.typeName) ?? '?'} without NOT VALID scans every column of that type under lock`,
        location: constraint.location,
      }
    },
  },
})

const uniqueKinds: Record<string, string> = {
  CONSTR_UNIQUE: 'UNIQUE',
  CONSTR_PRIMARY: 'PRIMARY KEY',
  CONSTR_EXCLUSION: 'EXCLUDE',
}

export const addUniqueConstraint = defineRule({
  meta: {
    id: 'add-unique-constraint',
    severity: 'error',
    phases: bothPhases,
    summary: 'Adding a UNIQUE, PRIMARY KEY or EXCLUDE constraint builds its index while blocking writes.',
    hint: 'CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX)',
    example: {
      unsafe: 'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);',
      safe: [
        'CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);',
        'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;',
      ].join('\n'),
    },
  },
  check: {
    AlterTableCmd(cmd, _context, { name }) {
      const constraint = addedConstraint(cmd)
      const kind = uniqueKinds[constraint?.contype ?? '']
      if (!constraint || kind === undefined || constraint.indexname) return
      return {
        message: `${kind} constraint${label(constraint)} on ${name} builds its index while blocking writes`,
        location: constraint.location,
      }
    },
    AddColumn(column, _context, target) {
      return onAddedColumn(column, target, (constraint, name) =>
        constraint.contype === 'CONSTR_UNIQUE' || constraint.contype === 'CONSTR_PRIMARY'
          ? `${uniqueKinds[constraint.contype]} on new column ${name} builds an index while blocking writes`
          : undefined,
      )
    },
  },
})
