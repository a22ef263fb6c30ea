import { Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { withEngine } from '../cli/context.js'
import { planArg, planFlag, waitLockFlag } from '../cli/flags.js'
import { waitLockMs } from '../cli/lock-wait.js'
import { commandLine, requirePlan } from '../cli/invocation.js'

export default class Approve extends BluegreenCommand {
  static override description =
    'Approve the release waiting at an approve step and continue it (as `release --resume` does); --check only applies expired timeouts'
  static override examples = [
    '<%= config.bin %> approve plans/shop.yaml',
    '<%= config.bin %> approve plans/shop.yaml --check   # from cron: applies onTimeout to an expired gate, exits 0',
  ]
  static override args = { plan: planArg }
  static override flags = {
    plan: planFlag,
    'wait-lock': waitLockFlag,
    check: Flags.boolean({
      description:
        'Approve nothing: apply onTimeout when the gate the release waits at has expired, then exit 0 (for cron)',
      default: false,
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Approve)
    this.json = flags.json
    const planFile = requirePlan(args.plan, flags.plan, 'approve')
    const options = {
      planFile,
      json: flags.json,
      command: commandLine(this.id, this.argv),
      locks: true,
      waitLockMs: waitLockMs(flags['wait-lock']),
    }
    if (flags.check) {
      const checked = await withEngine(options, async (ctx) => {
        const { expireGate } = await import('../engine/approve.js')
        return expireGate(ctx)
      })
      if (this.json) return this.outJson({ type: 'result', ok: true, ...checked })
      return this.out(checked.message)
    }
    const result = await withEngine(options, async (ctx) => {
      const { release } = await import('../engine/release.js')
      return release(ctx, { resume: true, approve: true, force: false, dryRun: false })
    })
    if (this.json) return this.outJson({ type: 'result', ...result })
    this.out(
      result.switched
        ? `✓ ${result.app} ${result.version} is live on ${result.to}; ${result.from} is the rollback target (bluegreen rollback --plan ${planFile})`
        : `✓ ${result.app} ${result.version} is deployed to ${result.to}; the plan has no switch phase, so ${result.from} still gets the traffic`,
    )
  }
}
