/** VACUUM FULL, CLUSTER, the rewriting ALTER TABLE forms, and REFRESH MATERIALIZED VIEW. */
import { optionEnabled } from '../../sql-file.js'
import { qualified } from '../names.js'
import { bothPhases, defineRule } from '../rule.js'

/** The ALTER TABLE forms that rewrite the table, as written. */
const rewritingForms: Record<string, string> = {
  AT_SetTableSpace: 'SET TABLESPACE',
  AT_SetLogged: 'SET LOGGED',
  AT_SetUnLogged: 'SET UNLOGGED',
  // Into another table access method (a no-op when it is the table's own already).
  AT_SetAccessMethod: 'SET ACCESS METHOD',
  // PostgreSQL 17: a stored generated column's new expression is computed for every row.
  AT_SetExpression: 'SET EXPRESSION',
}

export const tableRewrite = defineRule({
  meta: {
    id: 'table-rewrite',
    severity: 'error',
    phases: bothPhases,
    summary:
      'VACUUM FULL, CLUSTER, SET TABLESPACE, SET LOGGED/UNLOGGED, SET ACCESS METHOD and a generated column’s SET EXPRESSION rewrite the table under an ACCESS EXCLUSIVE lock.',
    hint: 'do this in a maintenance window, or use an online tool such as pg_repack',
    example: { unsafe: 'VACUUM FULL orders;', safe: 'VACUUM (ANALYZE) orders;' },
  },
  check: {
    VacuumStmt(stmt) {
      if (!stmt.is_vacuumcmd || !optionEnabled(stmt.options, 'full')) return
      return { message: 'VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock' }
    },
    ClusterStmt(stmt, context) {
      if (context.isNew(stmt.relation)) return
      return {
        message: `CLUSTER${stmt.relation ? ' ' + qualified(stmt.relation) : ''} rewrites the table under an ACCESS EXCLUSIVE lock`,
        location: stmt.relation?.location,
      }
    },
    AlterTableCmd(cmd, _context, { stmt, name }) {
      const change = rewritingForms[cmd.subtype ?? '']
      if (change === undefined) return
      return {
        message: `${change} rewrites ${name} under an ACCESS EXCLUSIVE lock`,
        location: stmt.relation?.location,
      }
    },
  },
})

export const refreshMaterializedView = defineRule({
  meta: {
    id: 'refresh-materialized-view',
    severity: 'error',
    phases: bothPhases,
    summary:
      'REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks every read of the view while it refreshes.',
    hint: 'give the view a unique index and use REFRESH MATERIALIZED VIEW CONCURRENTLY',
    example: {
      unsafe: 'REFRESH MATERIALIZED VIEW order_totals;',
      safe: 'REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals;',
    },
  },
  check: {
    RefreshMatViewStmt(stmt, context) {
      if (stmt.concurrent || context.isNew(stmt.relation)) return
      return {
        message: `REFRESH MATERIALIZED VIEW ${qualified(stmt.relation)} without CONCURRENTLY blocks every read of it`,
        location: stmt.relation?.location,
      }
    },
  },
})
