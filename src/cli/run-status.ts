/**
 * The body of `bluegreen status`, shared by the oclif command and the fast path (fast-path.ts):
 * status is the first command on-call runs, so it starts without oclif too.
 */
import { withEngine } from './context.js'
import { printJson, printLine } from './output.js'

export interface StatusInput {
  planFile: string
  json: boolean
  /** The command line, as the journal records it. */
  command: string
}

export async function runStatus(input: StatusInput): Promise<void> {
  const report = await withEngine(
    {
      planFile: input.planFile,
      json: input.json,
      command: input.command,
      allowOfflineJournal: true,
      readTrafficAhead: true,
    },
    async (ctx) => {
      const { status } = await import('../engine/status.js')
      return status(ctx)
    },
  )
  if (input.json) return printJson({ type: 'result', ok: true, ...report })
  const { drawStatus } = await import('../ui/status.js')
  printLine(drawStatus(report))
}
