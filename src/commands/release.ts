import { Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { confirm } from '../cli/confirm.js'
import { withEngine } from '../cli/context.js'
import { dryRunFlag, planArg, planFlag, versionFlag, waitLockFlag, yesFlag } from '../cli/flags.js'
import { waitLockMs } from '../cli/lock-wait.js'
import { commandLine, requirePlan } from '../cli/invocation.js'
import { checkVersionFlag } from '../format/version.js'

export default class Release extends BluegreenCommand {
  static override description =
    'Run a release: expand, deploy to the inactive pool, smoke test, switch, verify, standby, contract'
  static override examples = [
    '<%= config.bin %> release plans/shop.yaml --version 2.4.0',
    '<%= config.bin %> release plans/shop.yaml --version 1.1.0 --live-version 1.0.0   # the first release',
    '<%= config.bin %> release plans/shop.yaml --resume',
    '<%= config.bin %> release plans/shop.yaml --dry-run',
  ]
  static override args = { plan: planArg }
  static override flags = {
    plan: planFlag,
    version: versionFlag,
    'dry-run': dryRunFlag,
    resume: Flags.boolean({
      description: 'Continue the unfinished release from its first unfinished step',
      env: 'BLUEGREEN_RESUME',
      default: false,
    }),
    approve: Flags.boolean({
      description:
        'With --resume: approve the approve step the release waits at (as `bluegreen approve` does)',
      dependsOn: ['resume'],
      default: false,
    }),
    force: Flags.boolean({
      description:
        'With --resume: accept a plan that changed since the release started; without: release a version that is already live',
      default: false,
    }),
    yes: yesFlag,
    'wait-lock': waitLockFlag,
    'live-version': Flags.string({
      description:
        'The version the live pool runs now, on a first release (the journal has not seen it released): lets a rollback to it confirm it by version',
      env: 'BLUEGREEN_LIVE_VERSION',
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Release)
    this.json = flags.json
    checkVersionFlag(flags['live-version'], '--live-version')
    const planFile = requirePlan(args.plan, flags.plan, 'release')
    const result = await withEngine(
      {
        planFile,
        version: flags.version,
        json: flags.json,
        command: commandLine(this.id, this.argv),
        locks: !flags['dry-run'],
        waitLockMs: waitLockMs(flags['wait-lock']),
      },
      async (ctx) => {
        if (!flags['dry-run'])
          await confirm(`Release ${ctx.plan.app} ${flags.version ?? ctx.plan.version ?? ''}?`, flags)
        const { release } = await import('../engine/release.js')
        return release(ctx, {
          version: flags.version,
          resume: flags.resume,
          force: flags.force,
          dryRun: flags['dry-run'],
          liveVersion: flags['live-version'],
          approve: flags.approve,
        })
      },
    )
    if (this.json) this.outJson({ type: 'result', ...result })
    else if (result.unchanged)
      this.out(`✓ ${result.app} ${result.version} is already live on ${result.to}; nothing to release`)
    else if (!result.switched && !result.dryRun)
      this.out(
        `✓ ${result.app} ${result.version} is deployed to ${result.to}; the plan has no switch phase, so ${result.from} still gets the traffic`,
      )
    else if (!result.dryRun)
      this.out(
        `✓ ${result.app} ${result.version} is live on ${result.to}; ${result.from} is the rollback target (bluegreen rollback --plan ${planFile})`,
      )
  }
}
