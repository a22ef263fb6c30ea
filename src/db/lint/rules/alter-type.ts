/** ALTER TYPE … ADD VALUE: a value the running version does not understand. */
import { lastName } from '../names.js'
import { expandOnly, defineRule } from '../rule.js'

export const addEnumValue = defineRule({
  meta: {
    id: 'add-enum-value',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Adding a value to an existing enum lets the new version write a value the running version does not understand.',
    hint: 'create a new enum type with the new value and add a new column of that type; switch the code, and drop the old column in a contract migration',
    example: {
      unsafe: "ALTER TYPE order_status ADD VALUE 'refunded';",
      safe: [
        "CREATE TYPE order_status_v2 AS ENUM ('new', 'paid', 'refunded');",
        'ALTER TABLE orders ADD COLUMN status_v2 order_status_v2;',
      ].join('\n'),
    },
  },
  check: {
    AlterEnumStmt(stmt, context) {
      // Renaming a value is rename-object's.
      if (stmt.oldVal !== undefined || context.has('type', context.key(stmt.typeName))) return
      return {
        message: `adding value '${stmt.newVal ?? '?'}' to enum ${lastName(stmt.typeName) ?? '?'}: the running version may read a value it does not understand`,
      }
    },
  },
})
