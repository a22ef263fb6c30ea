import { Args, Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { confirm } from '../cli/confirm.js'
import { withEngine } from '../cli/context.js'
import { commandLine, planFlag, yesFlag } from '../cli/flags.js'
import { requirePlan } from '../cli/plan-file.js'

export default class Rollback extends BluegreenCommand {
  static override description = 'Switch production back to the standby pool (works with the database down)'
  static override examples = ['<%= config.bin %> rollback --plan plans/shop.yaml --yes']
  static override args = {
    plan: Args.string({ description: 'Plan file (YAML); or --plan', required: false }),
  }
  static override flags = {
    plan: planFlag,
    yes: yesFlag,
    force: Flags.boolean({ description: 'Skip the standby health and schema checks', default: false }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Rollback)
    this.json = flags.json
    const planFile = requirePlan(args.plan, flags.plan, 'rollback')
    const result = await withEngine(
      { planFile, json: flags.json, command: commandLine(this.id, this.argv), allowOfflineJournal: true },
      async (ctx) => {
        await confirm(`Roll ${ctx.plan.app} back to the standby pool?`, flags)
        const { rollback } = await import('../engine/rollback.js')
        return rollback(ctx, { force: flags.force })
      },
    )
    if (this.json) this.outJson({ type: 'result', ...result })
    else
      this.out(
        `✓ rolled back: ${result.to}${result.version ? ` (${result.version})` : ''} is live, in ${result.ms} ms${result.journaled ? '' : ' (journal entry pending)'}`,
      )
  }
}
