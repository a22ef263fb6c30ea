import { Flags } from '@oclif/core'
import { planArg, planFlag } from '../cli/flags.js'
import { commandLine, requirePlan } from '../cli/invocation.js'
import { BluegreenCommand } from '../cli/base-command.js'
import { withEngine } from '../cli/context.js'
import { BluegreenError } from '../errors.js'

export default class Unlock extends BluegreenCommand {
  static override description = 'Clear a stale release lock (audited)'
  static override args = { plan: planArg }
  static override flags = {
    plan: planFlag,
    force: Flags.boolean({ description: 'Required: clearing a lock is deliberate', default: false }),
    kill: Flags.boolean({
      description: 'Also stop the holder when it still runs on this host (SIGTERM, then SIGKILL after 10 s)',
      default: false,
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Unlock)
    this.json = flags.json
    if (!flags.force) {
      throw new BluegreenError({
        code: 'USAGE',
        message: 'unlock needs --force',
        hint: 'make sure no release is running, then: bluegreen unlock PLAN --force',
      })
    }
    const result = await withEngine(
      {
        planFile: requirePlan(args.plan, flags.plan, 'unlock'),
        json: flags.json,
        command: commandLine(this.id, this.argv),
      },
      async (ctx) => {
        const { unlock } = await import('../engine/retire.js')
        return unlock(ctx, { kill: flags.kill })
      },
    )
    if (this.json) this.outJson({ type: 'result', ...result })
    else
      this.out(
        result.cleared
          ? `✓ cleared the lock of ${result.cleared.holder} (pid ${result.cleared.pid} on ${result.cleared.host}, since ${result.cleared.since})${result.killed ? `; stopped pid ${result.killed}` : ''}`
          : 'no lock was held',
      )
  }
}
