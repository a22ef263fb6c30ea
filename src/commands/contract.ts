import { Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { withEngine } from '../cli/context.js'
import { confirm } from '../cli/confirm.js'
import { dryRunFlag, planArg, planFlag, waitLockFlag, yesFlag } from '../cli/flags.js'
import { waitLockMs } from '../cli/lock-wait.js'
import { commandLine, requirePlan } from '../cli/invocation.js'

export default class Contract extends BluegreenCommand {
  static override description = 'Run the pending contract migrations that are safe and due'
  static override args = { plan: planArg }
  static override flags = {
    plan: planFlag,
    'dry-run': dryRunFlag,
    yes: yesFlag,
    'wait-lock': waitLockFlag,
    backfill: Flags.boolean({
      description:
        'First bring rows in line that a sync or backfill of the release left (else the contract refuses)',
      env: 'BLUEGREEN_BACKFILL',
      default: false,
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Contract)
    this.json = flags.json
    const decisions = await withEngine(
      {
        planFile: requirePlan(args.plan, flags.plan, 'contract'),
        json: flags.json,
        command: commandLine(this.id, this.argv),
        locks: true,
        waitLockMs: waitLockMs(flags['wait-lock']),
      },
      async (ctx) => {
        const { contract } = await import('../engine/contract.js')
        return contract(ctx, {
          dryRun: flags['dry-run'],
          backfill: flags.backfill,
          confirm: (question) => confirm(question, flags),
        })
      },
    )
    if (this.json) return this.outJson({ type: 'result', ok: true, contracts: decisions })
    if (decisions.length === 0) return this.out('no pending contract migrations')
    for (const d of decisions)
      this.out(
        `${d.status.padEnd(9)} ${d.version}: ${d.files.join(', ')}${d.reason ? `\n          ${d.reason}` : ''}`,
      )
  }
}
