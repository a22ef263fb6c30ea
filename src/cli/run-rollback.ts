/**
 * The body of `bluegreen rollback`, shared by the oclif command and the fast path that starts
 * without oclif (fast-path.ts): same engine, same confirmation, same output.
 */
import { confirm } from './confirm.js'
import { withEngine } from './context.js'
import { printJson, printLine } from './output.js'

export interface RollbackInput {
  planFile: string
  yes: boolean
  force: boolean
  json: boolean
  /** The command line, recorded as the lock holder. */
  command: string
}

export async function runRollback(input: RollbackInput): Promise<void> {
  const result = await withEngine(
    {
      planFile: input.planFile,
      json: input.json,
      command: input.command,
      allowOfflineJournal: true,
      locks: true,
    },
    async (ctx) => {
      await confirm(`Roll ${ctx.plan.app} back to the standby pool?`, input)
      const { rollback } = await import('../engine/rollback.js')
      return rollback(ctx, { force: input.force })
    },
  )
  if (input.json) printJson({ type: 'result', ...result })
  else
    printLine(
      `✓ rolled back: ${result.to}${result.version ? ` (${result.version})` : ''} is live, in ${result.ms} ms${result.journaled ? '' : ' (journal entry pending)'}`,
    )
}
