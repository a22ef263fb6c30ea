/** TRUNCATE, DELETE and UPDATE: the statements that destroy or lock the rows the old version serves. */
import type { Node } from 'libpg-query'
import { lastName, qualified, relationsOf } from '../names.js'
import { bothPhases, expandOnly, defineRule } from '../rule.js'

/** Whether a WHERE may leave rows out: not absent, and not one that is always true (`WHERE true`, `WHERE 1 = 1`). */
function picksRows(where: Node | undefined): boolean {
  if (where === undefined) return false
  if ('A_Const' in where) return where.A_Const.boolval?.boolval !== true
  if (!('A_Expr' in where) || where.A_Expr.kind !== 'AEXPR_OP') return true
  const { lexpr, rexpr, name } = where.A_Expr
  const operator = lastName(name)
  const value = (n: Node | undefined) => {
    if (!n || !('A_Const' in n)) return undefined
    const { location: _, ...constant } = n.A_Const
    return JSON.stringify(constant)
  }
  return !(operator === '=' && value(lexpr) !== undefined && value(lexpr) === value(rexpr))
}

export const truncate = defineRule({
  meta: {
    id: 'truncate',
    severity: 'error',
    phases: expandOnly,
    summary: 'TRUNCATE destroys data the running version still serves, and takes an ACCESS EXCLUSIVE lock.',
    hint: 'empty tables in a contract migration, once no running version needs the rows',
    example: { unsafe: 'TRUNCATE sessions;', safe: 'DELETE FROM sessions WHERE expires_at < now();' },
  },
  check: {
    TruncateStmt(stmt, context) {
      const existing = relationsOf(stmt.relations).filter((r) => !context.isNew(r))
      if (existing.length === 0) return
      return {
        message: `TRUNCATE ${existing.map(qualified).join(', ')} destroys rows the running version still serves`,
        location: existing[0].location,
      }
    },
  },
})

export const deleteAllRows = defineRule({
  meta: {
    id: 'delete-all-rows',
    severity: 'error',
    phases: expandOnly,
    summary: 'DELETE without WHERE destroys data the running version still serves.',
    hint: 'delete in a contract migration, or restrict the DELETE with a WHERE clause',
    example: { unsafe: 'DELETE FROM sessions;', safe: 'DELETE FROM sessions WHERE expires_at < now();' },
  },
  check: {
    DeleteStmt(stmt, context) {
      if (picksRows(stmt.whereClause) || context.isNew(stmt.relation)) return
      return {
        message: `DELETE FROM ${qualified(stmt.relation)} ${stmt.whereClause ? 'with a WHERE that is always true' : 'without WHERE'} destroys rows the running version still serves`,
        location: stmt.relation?.location,
      }
    },
  },
})

export const bulkUpdate = defineRule({
  meta: {
    id: 'bulk-update',
    severity: 'warning',
    phases: bothPhases,
    summary: 'UPDATE without WHERE locks every row of the table until the migration commits.',
    hint: 'use a backfill phase: it updates in small batches, each in its own short transaction, and resumes after an interruption',
    example: {
      unsafe: 'UPDATE users SET full_name = name;',
      safe: "UPDATE users SET role = 'member' WHERE id = 1;",
    },
  },
  check: {
    UpdateStmt(stmt, context) {
      if (picksRows(stmt.whereClause) || context.isNew(stmt.relation)) return
      return {
        message: `UPDATE ${qualified(stmt.relation)} ${stmt.whereClause ? 'with a WHERE that is always true' : 'without WHERE'} locks every row until the migration commits`,
        location: stmt.relation?.location,
      }
    },
  },
})

export const restartSequence = defineRule({
  meta: {
    id: 'restart-sequence',
    severity: 'error',
    phases: bothPhases,
    summary:
      'ALTER SEQUENCE … RESTART hands out numbers again that rows already have: the running version’s next INSERTs fail on duplicate keys (or, without a unique key, silently reuse them).',
    hint: 'leave the sequence running; to move it past imported rows, raise it with setval(…, max(id)) instead of restarting it',
    example: {
      unsafe: 'ALTER SEQUENCE users_id_seq RESTART WITH 1;',
      safe: "SELECT setval('users_id_seq', (SELECT max(id) FROM users));",
    },
  },
  check: {
    AlterSeqStmt(stmt, context) {
      const restarts = (stmt.options ?? []).some((o) => 'DefElem' in o && o.DefElem.defname === 'restart')
      if (!restarts || context.isNew(stmt.sequence)) return
      return {
        message: `restarting sequence ${qualified(stmt.sequence)} makes the running version's INSERTs reuse numbers rows already have`,
        location: stmt.sequence?.location,
      }
    },
  },
})
