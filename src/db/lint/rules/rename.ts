/** ALTER … RENAME, ALTER … SET SCHEMA and ALTER TYPE … RENAME VALUE: the old name stops working. */
import { lastName, nameList, objectKind, objectName, qualified } from '../names.js'
import { expandOnly, defineRule } from '../rule.js'

const relationKinds = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE'])
const objectKinds = new Set([
  'OBJECT_SCHEMA',
  'OBJECT_TYPE',
  'OBJECT_DOMAIN',
  'OBJECT_FUNCTION',
  'OBJECT_PROCEDURE',
  'OBJECT_ROUTINE',
  'OBJECT_SEQUENCE',
])

export const renameTable = defineRule({
  meta: {
    id: 'rename-table',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Renaming a table or view (or moving it to another schema) breaks the running version, which uses the old name.',
    hint: 'create the new table (or a view with the new name over the old table), write to both, backfill, and drop the old name in a contract migration',
    example: {
      unsafe: 'ALTER TABLE customers RENAME TO clients;',
      safe: 'CREATE VIEW clients AS SELECT * FROM customers;',
    },
  },
  check: {
    RenameStmt(stmt, context) {
      if (!relationKinds.has(stmt.renameType ?? '') || context.isNew(stmt.relation)) return
      return {
        message: `renaming ${qualified(stmt.relation)} to ${stmt.newname ?? '?'} breaks the running version, which uses the old name`,
        location: stmt.relation?.location,
      }
    },
    AlterObjectSchemaStmt(stmt, context) {
      if (stmt.relation === undefined || context.isNew(stmt.relation)) return
      return {
        message: `SET SCHEMA moves ${qualified(stmt.relation)} to schema ${stmt.newschema ?? '?'}: the running version still uses the old name`,
        location: stmt.relation.location,
      }
    },
  },
})

export const renameColumn = defineRule({
  meta: {
    id: 'rename-column',
    severity: 'error',
    phases: expandOnly,
    summary: 'Renaming a column breaks the running version, which uses the old name.',
    hint: 'add a new column, backfill it (and keep both in sync, e.g. with a trigger), switch the code, and drop the old column in a contract migration',
    example: {
      unsafe: 'ALTER TABLE users RENAME COLUMN name TO full_name;',
      safe: 'ALTER TABLE users ADD COLUMN full_name text;',
    },
  },
  check: {
    RenameStmt(stmt, context) {
      if (stmt.renameType !== 'OBJECT_COLUMN' || context.isNew(stmt.relation)) return
      return {
        message: `renaming column ${qualified(stmt.relation)}.${stmt.subname ?? '?'} to ${stmt.newname ?? '?'} breaks the running version, which uses the old name`,
        location: stmt.relation?.location,
      }
    },
  },
})

export const renameObject = defineRule({
  meta: {
    id: 'rename-object',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Renaming a schema, type, enum value, function or sequence breaks the running version, which uses the old name.',
    hint: 'create the new object next to the old one, switch the code, and drop the old one in a contract migration',
    example: {
      unsafe: "ALTER TYPE order_status RENAME VALUE 'shipped' TO 'sent';",
      safe: "CREATE TYPE order_state AS ENUM ('new', 'sent');",
    },
  },
  check: {
    RenameStmt(stmt, context) {
      if (!objectKinds.has(stmt.renameType ?? '')) return
      const old =
        stmt.subname ??
        (stmt.object ? objectName(stmt.object) : stmt.relation ? qualified(stmt.relation) : '?')
      const isType = stmt.renameType === 'OBJECT_TYPE' || stmt.renameType === 'OBJECT_DOMAIN'
      if (isType && stmt.object && context.has('type', context.key(nameList(stmt.object)))) return
      return {
        message: `renaming ${objectKind(stmt.renameType)} ${old} to ${stmt.newname ?? '?'} breaks the running version, which uses the old name`,
        location: stmt.relation?.location,
      }
    },
    AlterObjectSchemaStmt(stmt) {
      if (stmt.relation !== undefined) return
      return {
        message: `SET SCHEMA moves ${objectKind(stmt.objectType)} to schema ${stmt.newschema ?? '?'}: the running version still uses the old name`,
      }
    },
    AlterEnumStmt(stmt, context) {
      if (stmt.oldVal === undefined || context.has('type', context.key(stmt.typeName))) return
      return {
        message: `renaming value '${stmt.oldVal}' of enum ${lastName(stmt.typeName) ?? '?'} breaks the running version, which uses the old value`,
      }
    },
  },
})
