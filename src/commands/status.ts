import { BluegreenCommand } from '../cli/base-command.js'
import { planArg, planFlag } from '../cli/flags.js'
import { commandLine, requirePlan } from '../cli/invocation.js'
import { runStatus } from '../cli/run-status.js'

/**
 * A plain `bluegreen status …` usually never gets here: bin/run.js runs it through the fast path
 * (src/cli/fast-path.ts), which reads these flags from the oclif manifest. This class is the
 * source of those flags and of the help, and runs whatever the fast path hands back.
 */
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
    await runStatus({
      planFile: requirePlan(args.plan, flags.plan, 'status'),
      json: flags.json,
      command: commandLine(this.id, this.argv),
    })
  }
}
