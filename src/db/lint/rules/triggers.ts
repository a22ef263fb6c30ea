/** ALTER TABLE … DISABLE TRIGGER and DROP TRIGGER: what stops running for the old version's writes too. */
import { nameList } from '../names.js'
import { defineRule, expandOnly } from '../rule.js'

/** What a trigger's name says of it, when it is one of bluegreen's own. */
function syncNote(trigger: string | undefined): string {
  return trigger?.startsWith('bluegreen_sync_')
    ? " (bluegreen's sync trigger: the old version's writes would no longer reach the new version's columns)"
    : ''
}

const disabling: Record<string, (name: string | undefined) => string> = {
  AT_DisableTrig: (name) => `trigger ${name ?? '?'}${syncNote(name)}`,
  AT_DisableTrigUser: () => 'every user trigger',
  AT_DisableTrigAll: () => 'every trigger, the foreign keys’ own among them,',
}

export const disableTrigger = defineRule({
  meta: {
    id: 'disable-trigger',
    severity: 'warning',
    phases: expandOnly,
    summary:
      'A trigger disabled or dropped on a table the running version writes stops running for its writes too: bluegreen’s sync triggers (which keep both versions’ columns in line), audit and updated_at triggers. DISABLE TRIGGER ALL also stops checking the foreign keys of every row written meanwhile, and is an error.',
    hint: 'keep the trigger while the old version runs (replace its function with CREATE OR REPLACE FUNCTION if it must behave differently), and drop it in a contract migration',
    example: {
      unsafe: 'ALTER TABLE orders DISABLE TRIGGER orders_touch_updated_at;',
      safe: 'ALTER TABLE orders ENABLE TRIGGER orders_touch_updated_at;',
    },
  },
  check: {
    AlterTableCmd(cmd, _context, { stmt, name }) {
      const what = disabling[cmd.subtype ?? '']
      if (what === undefined) return
      return {
        message: `DISABLE TRIGGER stops ${what(cmd.name)} on ${name} for the running version's writes too`,
        location: stmt.relation?.location,
        ...(cmd.subtype === 'AT_DisableTrigAll' ? { severity: 'error' as const } : {}),
      }
    },
    DropStmt(stmt, context) {
      if (stmt.removeType !== 'OBJECT_TRIGGER') return
      const dropped = (stmt.objects ?? []).flatMap((object) => {
        const names = nameList(object)
        const trigger = names.at(-1)
        const table = context.key(names.slice(0, -1))
        const triggerName = trigger && 'String' in trigger ? trigger.String.sval : undefined
        // A trigger of a table created in this file, or created earlier in it: no running version's.
        if (context.has('relation', table) || context.has('trigger', `${table}.${triggerName}`)) return []
        return [`${triggerName ?? '?'} on ${table ?? '?'}${syncNote(triggerName)}`]
      })
      if (dropped.length === 0) return
      return {
        message: `DROP TRIGGER ${dropped.join(', ')}: it stops running for the running version's writes too`,
      }
    },
  },
})
