import { Args } from '@oclif/core'
import { commandLine } from '../cli/invocation.js'
import { BluegreenCommand } from '../cli/base-command.js'
import { withEngine } from '../cli/context.js'

export default class Retire extends BluegreenCommand {
  static override description = 'Give up the standby pool as a rollback target (lets contract migrations run)'
  static override args = { plan: Args.string({ description: 'Plan file (YAML)', required: true }) }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Retire)
    this.json = flags.json
    const result = await withEngine(
      { planFile: args.plan, json: flags.json, command: commandLine(this.id, this.argv), locks: true },
      async (ctx) => {
        const { retire } = await import('../engine/retire.js')
        return retire(ctx)
      },
    )
    if (this.json) this.outJson({ type: 'result', ...result })
    else if (!result.changed) this.out(`✓ ${result.message ?? 'nothing to retire'}`)
    else
      this.out(
        `✓ ${result.pool}${result.version ? ` (${result.version})` : ''} is no longer a rollback target; run \`bluegreen contract ${args.plan}\` to apply what is now safe`,
      )
  }
}
