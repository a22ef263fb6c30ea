import { runPlanCommand } from './command-env.js'
import type { Phase } from './types.js'

export const execPhase = {
  kind: 'exec',
  rollbackOnFailure: true,
  async run(ctx) {
    const { config } = ctx
    const what = config.name ? `exec "${config.name}"` : 'exec'
    const ms = await runPlanCommand(ctx, config, what, { fail: 'EXEC_FAILED', timeout: 'EXEC_FAILED' })
    return `${what} finished in ${ms} ms`
  },
} satisfies Phase<'exec'>
