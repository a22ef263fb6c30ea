import { Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { dryRunFlag, planArg, planFlag, versionFlag, waitLockFlag, yesFlag } from '../cli/flags.js'
import { commandLine, requirePlan } from '../cli/invocation.js'
import { runRelease } from '../cli/run-release.js'

/**
 * A plain `bluegreen release …` runs through the fast path (src/cli/fast-path.ts), which reads
 * these flags from the oclif manifest; this class is the source of those flags and of the help,
 * and runs whatever the fast path hands back (`--help`, `--approve`, a usage error).
 */
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
    await runRelease({
      planFile: requirePlan(args.plan, flags.plan, 'release'),
      version: flags.version,
      dryRun: flags['dry-run'],
      resume: flags.resume,
      approve: flags.approve,
      force: flags.force,
      yes: flags.yes,
      json: flags.json,
      waitLock: flags['wait-lock'],
      liveVersion: flags['live-version'],
      command: commandLine(this.id, this.argv),
    })
  }
}
