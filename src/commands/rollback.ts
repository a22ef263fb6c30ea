import { Args, Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { planFlag, yesFlag } from '../cli/flags.js'
import { commandLine, requirePlan } from '../cli/invocation.js'
import { runRollback } from '../cli/run-rollback.js'

/**
 * A plain `bluegreen rollback …` usually never gets here: bin/run.js runs it through the fast
 * path (src/cli/fast-path.ts), which reads these flags from the oclif manifest. This class is
 * the source of those flags and of the help, and runs whatever the fast path hands back.
 */
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
    await runRollback({
      planFile: requirePlan(args.plan, flags.plan, 'rollback'),
      yes: flags.yes,
      force: flags.force,
      json: flags.json,
      command: commandLine(this.id, this.argv),
    })
  }
}
