import { confirm } from '../cli/confirm.js'
import { planArg, planFlag, waitLockFlag, yesFlag } from '../cli/flags.js'
import { waitLockMs } from '../cli/lock-wait.js'
import { commandLine, requirePlan } from '../cli/invocation.js'
import { BluegreenCommand } from '../cli/base-command.js'
import { withEngine } from '../cli/context.js'

export default class Retire extends BluegreenCommand {
  static override description = 'Give up the standby pool as a rollback target (lets contract migrations run)'
  static override args = { plan: planArg }
  static override flags = { plan: planFlag, yes: yesFlag, 'wait-lock': waitLockFlag }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Retire)
    this.json = flags.json
    const planFile = requirePlan(args.plan, flags.plan, 'retire')
    const result = await withEngine(
      {
        planFile,
        json: flags.json,
        command: commandLine(this.id, this.argv),
        locks: true,
        waitLockMs: waitLockMs(flags['wait-lock']),
      },
      async (ctx) => {
        const { retire } = await import('../engine/retire.js')
        return retire(ctx, { confirm: (question) => confirm(question, flags) })
      },
    )
    if (this.json) this.outJson({ type: 'result', ...result })
    else if (!result.changed) this.out(`✓ ${result.message ?? 'nothing to retire'}`)
    else
      this.out(
        `✓ ${result.pool}${result.version ? ` (${result.version})` : ''} is no longer a rollback target; run \`bluegreen contract ${planFile}\` to apply what is now safe`,
      )
  }
}
