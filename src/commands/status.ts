import { BluegreenCommand } from '../cli/base-command.js'
import { withEngine } from '../cli/context.js'
import { planArg, planFlag } from '../cli/flags.js'
import { commandLine, requirePlan } from '../cli/invocation.js'

export default class Status extends BluegreenCommand {
  static override description =
    'Show both pools (live, standby, version, health, weight), the rollback window and pending contracts'
  static override args = {
    plan: planArg,
  }
  static override flags = { plan: planFlag }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Status)
    this.json = flags.json
    const planFile = requirePlan(args.plan, flags.plan, 'status')
    const report = await withEngine(
      { planFile, json: flags.json, command: commandLine(this.id, this.argv), allowOfflineJournal: true },
      async (ctx) => {
        const { status } = await import('../engine/status.js')
        return status(ctx)
      },
    )
    if (this.json) return this.outJson({ type: 'result', ok: true, ...report })
    const { drawStatus } = await import('../ui/status.js')
    this.out(drawStatus(report))
  }
}
