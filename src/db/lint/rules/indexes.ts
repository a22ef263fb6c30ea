/** CREATE INDEX and REINDEX without CONCURRENTLY. (DROP INDEX is with the other DROPs.) */
import { optionEnabled } from '../../sql-file.js'
import { qualified } from '../names.js'
import { bothPhases, defineRule } from '../rule.js'

export const createIndex = defineRule({
  meta: {
    id: 'create-index',
    severity: 'error',
    phases: bothPhases,
    summary: 'CREATE INDEX without CONCURRENTLY blocks every write to the table while the index builds.',
    hint: 'use CREATE INDEX CONCURRENTLY (bluegreen runs it outside a transaction, and retries it on lock timeout)',
    example: {
      unsafe: 'CREATE INDEX orders_user_id_idx ON orders (user_id);',
      safe: 'CREATE INDEX CONCURRENTLY orders_user_id_idx ON orders (user_id);',
    },
  },
  check: {
    IndexStmt(stmt, context) {
      // ON ONLY a partitioned table: an invalid index on the parent alone, built by nothing.
      if (stmt.concurrent || context.isNew(stmt.relation) || stmt.relation?.inh !== true) return
      return {
        message: `CREATE ${stmt.unique ? 'UNIQUE ' : ''}INDEX${stmt.idxname ? ` ${stmt.idxname}` : ''} on ${qualified(stmt.relation)} without CONCURRENTLY blocks writes to the table while it builds`,
        location: stmt.relation?.location,
      }
    },
  },
})

export const reindex = defineRule({
  meta: {
    id: 'reindex',
    severity: 'error',
    phases: bothPhases,
    summary:
      'REINDEX without CONCURRENTLY blocks writes to the table (and reads through the index) while it rebuilds.',
    hint: 'use REINDEX ... CONCURRENTLY',
    example: {
      unsafe: 'REINDEX INDEX orders_user_id_idx;',
      safe: 'REINDEX INDEX CONCURRENTLY orders_user_id_idx;',
    },
  },
  check: {
    ReindexStmt(stmt) {
      if (optionEnabled(stmt.params, 'concurrently')) return
      return {
        message: `REINDEX ${stmt.relation ? qualified(stmt.relation) + ' ' : ''}without CONCURRENTLY blocks writes while it rebuilds`,
        location: stmt.relation?.location,
      }
    },
  },
})
