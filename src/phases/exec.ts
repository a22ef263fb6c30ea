import * as z from 'zod'
import { parseDuration } from '../format/duration.js'
import { Command, Duration } from '../format/parts.js'
import { commandIssues, runPlanCommand } from './command-env.js'
import { definePhase } from './types.js'
import { envDetails } from './words.js'

const ExecConfig = z
  .strictObject({
    name: z.string().optional(),
    run: Command,
    shell: z.boolean().default(false),
    env: z.record(z.string(), z.string()).optional(),
    timeout: Duration.default('10m'),
  })
  .describe('Run any command')

export const execPhase = definePhase({
  kind: 'exec',
  schema: ExecConfig,
  touches: 'none',
  rollbackOnFailure: true,
  describe(c, words) {
    return {
      target: '—',
      summary: `${c.name ? `${c.name}: ` : ''}run ${words.command(c.run, c.shell)} (timeout ${c.timeout})`,
      details: envDetails(c.env),
      durationMs: parseDuration(c.timeout),
    }
  },
  validate: commandIssues,
  async run(ctx) {
    const { config } = ctx
    const what = config.name ? `exec "${config.name}"` : 'exec'
    const ms = await runPlanCommand(ctx, config, what, { fail: 'EXEC_FAILED', timeout: 'EXEC_FAILED' })
    return `${what} finished in ${ms} ms`
  },
})
