/** CREATE OR REPLACE of functions, procedures, views, triggers and rules: new logic for both versions. */
import { dottedName, qualified } from '../names.js'
import { expandOnly, defineRule, type Report } from '../rule.js'

function replaced(kind: string, name: string, location?: number): Report {
  return {
    message: `CREATE OR REPLACE ${kind.toUpperCase()} ${name} changes logic the running version still uses`,
    location,
  }
}

export const createOrReplace = defineRule({
  meta: {
    id: 'create-or-replace',
    severity: 'warning',
    phases: expandOnly,
    summary:
      'CREATE OR REPLACE FUNCTION, PROCEDURE, VIEW, TRIGGER or RULE changes logic the running version still calls, at once and for both versions.',
    hint: 'create the new logic under a new name (order_total_v2), switch the code to it, and drop the old one in a contract migration; or allow it with a reason when the old version works with the new logic',
    example: {
      unsafe: 'CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE deleted_at IS NULL;',
      safe: 'CREATE VIEW active_users_v2 AS SELECT id, email FROM users WHERE deleted_at IS NULL;',
    },
  },
  check: {
    ViewStmt(stmt, context) {
      if (!stmt.replace || context.isNew(stmt.view)) return
      return replaced('view', qualified(stmt.view), stmt.view?.location)
    },
    CreateFunctionStmt(stmt, context) {
      if (!stmt.replace || context.has('function', context.key(stmt.funcname))) return
      return replaced(stmt.is_procedure ? 'procedure' : 'function', dottedName(stmt.funcname))
    },
    CreateTrigStmt(stmt, context) {
      if (!stmt.replace || context.isNew(stmt.relation)) return
      if (context.has('trigger', `${context.key(stmt.relation) ?? '?'}.${stmt.trigname ?? '?'}`)) return
      return replaced(
        'trigger',
        `${stmt.trigname ?? '?'} on ${qualified(stmt.relation)}`,
        stmt.relation?.location,
      )
    },
    RuleStmt(stmt, context) {
      if (!stmt.replace || context.isNew(stmt.relation)) return
      return replaced(
        'rule',
        `${stmt.rulename ?? '?'} on ${qualified(stmt.relation)}`,
        stmt.relation?.location,
      )
    },
  },
})
