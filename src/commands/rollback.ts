import { Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { planArg, planFlag, waitLockFlag, yesFlag } from '../cli/flags.js'
import { commandLine, requirePlan } from '../cli/invocation.js'
import { runRollback } from '../cli/run-rollback.js'

/**
 * A plain `bluegreen rollback …` usually never gets here: bin/run.js runs it through the fast
 * path (src/cli/fast-path.ts), which reads these flags from the oclif manifest. This class is
 * the source of those flags and of the help, and runs whatever the fast path hands back.
 */
export default class Rollback extends BluegreenCommand {
  static override description =
    'Switch production back to the last known-good pool (works with the database down); never to a failed or rolled-back build'
  static override examples = ['<%= config.bin %> rollback --plan plans/shop.yaml --yes']
  static override args = {
    plan: planArg,
  }
  static override flags = {
    plan: planFlag,
    yes: yesFlag,
    'wait-lock': waitLockFlag,
    force: Flags.boolean({
      description:
        'Switch to the other pool whatever it holds (a candidate, a rolled-back build), without the health and schema checks',
      default: false,
    }),
    'journal-timeout': Flags.string({
      description:
        'How long the database may take before the rollback goes on without it (the journal entry is spooled)',
      env: 'BLUEGREEN_JOURNAL_TIMEOUT',
      default: '1s',
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Rollback)
    this.json = flags.json
    await runRollback({
      planFile: requirePlan(args.plan, flags.plan, 'rollback'),
      yes: flags.yes,
      force: flags.force,
      json: flags.json,
      journalTimeout: flags['journal-timeout'],
      waitLock: flags['wait-lock'],
      command: commandLine(this.id, this.argv),
    })
  }
}
