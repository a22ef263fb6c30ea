import { Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { withEngine } from '../cli/context.js'
import { planArg, planFlag } from '../cli/flags.js'
import { commandLine, requirePlan } from '../cli/invocation.js'

export default class History extends BluegreenCommand {
  static override description = 'List releases, rollbacks and other audited events'
  static override args = {
    plan: planArg,
  }
  static override flags = {
    plan: planFlag,
    limit: Flags.integer({ description: 'How many releases', default: 20 }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(History)
    this.json = flags.json
    const planFile = requirePlan(args.plan, flags.plan, 'history')
    const report = await withEngine(
      { planFile, json: flags.json, command: commandLine(this.id, this.argv) },
      async (ctx) => {
        const { history } = await import('../engine/status.js')
        return history(ctx, flags.limit)
      },
    )
    if (this.json) return this.outJson({ type: 'result', ok: true, ...report })
    const { drawHistory } = await import('../ui/status.js')
    this.out(drawHistory(report))
  }
}
