/** DROP TABLE, VIEW, SCHEMA, INDEX, TYPE, FUNCTION …, and DROP DATABASE. */
import type { DropStmt } from 'libpg-query'
import type { FileContext, ObjectKind } from '../context.js'
import { nameList, objectKind, objectName } from '../names.js'
import { bothPhases, expandOnly, defineRule } from '../rule.js'

/** The objects a DROP names, as written, less those created earlier in the file (as `kind`). */
function existing(stmt: DropStmt, kind: ObjectKind, context: FileContext): string[] {
  const objects = stmt.objects ?? []
  return objects.filter((object) => !context.has(kind, context.key(nameList(object)))).map(objectName)
}

function allNames(stmt: DropStmt): string {
  return (stmt.objects ?? []).map(objectName).join(', ')
}

function ifExists(stmt: DropStmt): string {
  return stmt.missing_ok ? ' IF EXISTS' : ''
}

export const dropTable = defineRule({
  meta: {
    id: 'drop-table',
    severity: 'error',
    phases: expandOnly,
    summary: 'Dropping a table breaks the running version, which may still read or write it.',
    hint: 'stop using the table in this release, and drop it in a contract migration',
    example: {
      unsafe: 'DROP TABLE IF EXISTS legacy_orders;',
      safe: "COMMENT ON TABLE legacy_orders IS 'unused since v42, dropped in contract';",
    },
  },
  check: {
    DropStmt(stmt, context) {
      if (stmt.removeType !== 'OBJECT_TABLE' && stmt.removeType !== 'OBJECT_FOREIGN_TABLE') return
      const dropped = existing(stmt, 'relation', context)
      if (dropped.length === 0) return
      return {
        message: `DROP TABLE${ifExists(stmt)} ${dropped.join(', ')} removes a table the running version may still use`,
      }
    },
  },
})

export const dropView = defineRule({
  meta: {
    id: 'drop-view',
    severity: 'error',
    phases: expandOnly,
    summary: 'Dropping a view or materialized view breaks the running version, which may still query it.',
    hint: 'stop using the view in this release, and drop it in a contract migration',
    example: {
      unsafe: 'DROP VIEW active_users;',
      safe: 'CREATE VIEW active_users_v2 AS SELECT id FROM users;',
    },
  },
  check: {
    DropStmt(stmt, context) {
      if (stmt.removeType !== 'OBJECT_VIEW' && stmt.removeType !== 'OBJECT_MATVIEW') return
      const dropped = existing(stmt, 'relation', context)
      if (dropped.length === 0) return
      const kind = stmt.removeType === 'OBJECT_VIEW' ? 'VIEW' : 'MATERIALIZED VIEW'
      return {
        message: `DROP ${kind}${ifExists(stmt)} ${dropped.join(', ')} removes a view the running version may still query`,
      }
    },
  },
})

export const dropSchema = defineRule({
  meta: {
    id: 'drop-schema',
    severity: 'error',
    phases: expandOnly,
    summary: 'Dropping a schema removes everything in it while the running version still uses it.',
    hint: 'stop using the schema in this release, and drop it in a contract migration',
    example: { unsafe: 'DROP SCHEMA reporting CASCADE;', safe: 'CREATE SCHEMA IF NOT EXISTS reporting_v2;' },
  },
  check: {
    DropStmt(stmt) {
      if (stmt.removeType !== 'OBJECT_SCHEMA') return
      return { message: `DROP SCHEMA${ifExists(stmt)} ${allNames(stmt)} removes everything in it` }
    },
  },
})

/** Functions and sequences are not tracked as created in the file: every DROP of one counts. */
const untrackedKinds = new Set(['OBJECT_FUNCTION', 'OBJECT_PROCEDURE', 'OBJECT_ROUTINE', 'OBJECT_SEQUENCE'])

export const dropObject = defineRule({
  meta: {
    id: 'drop-object',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Dropping a type, domain, function, procedure or sequence breaks the running version if it uses it.',
    hint: 'stop using it in this release, and drop it in a contract migration',
    example: {
      unsafe: 'DROP FUNCTION order_total(bigint);',
      safe: 'CREATE FUNCTION order_total_v2(bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT 0::numeric $$;',
    },
  },
  check: {
    DropStmt(stmt, context) {
      const type = stmt.removeType ?? ''
      let dropped: string
      if (type === 'OBJECT_TYPE' || type === 'OBJECT_DOMAIN') {
        const names = existing(stmt, 'type', context)
        if (names.length === 0) return
        dropped = names.join(', ')
      } else if (untrackedKinds.has(type)) {
        dropped = allNames(stmt)
      } else {
        return
      }
      return {
        message: `DROP ${objectKind(type).toUpperCase()}${ifExists(stmt)} ${dropped} breaks the running version if it uses it`,
      }
    },
  },
})

export const dropIndex = defineRule({
  meta: {
    id: 'drop-index',
    severity: 'error',
    phases: bothPhases,
    summary: 'DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table.',
    hint: 'use DROP INDEX CONCURRENTLY',
    example: {
      unsafe: 'DROP INDEX IF EXISTS orders_user_id_idx;',
      safe: 'DROP INDEX CONCURRENTLY IF EXISTS orders_user_id_idx;',
    },
  },
  check: {
    DropStmt(stmt, context) {
      if (stmt.removeType !== 'OBJECT_INDEX' || stmt.concurrent) return
      const dropped = existing(stmt, 'index', context)
      if (dropped.length === 0) return
      return {
        message: `DROP INDEX${ifExists(stmt)} ${dropped.join(', ')} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table`,
      }
    },
  },
})

export const dropDatabase = defineRule({
  meta: {
    id: 'drop-database',
    severity: 'error',
    phases: bothPhases,
    summary: 'DROP DATABASE destroys everything in it; it has no place in a migration.',
    hint: 'drop databases by hand, outside the release',
    example: {
      unsafe: 'DROP DATABASE shop_staging;',
      safe: "COMMENT ON DATABASE shop_staging IS 'unused: to be dropped by hand';",
    },
  },
  check: {
    DropdbStmt(stmt) {
      return { message: `DROP DATABASE ${stmt.dbname ?? '?'} destroys every table the application uses` }
    },
  },
})
