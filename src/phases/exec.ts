import { parseDuration } from '../plan/duration.js'
import { commandEnv, fillCommand } from './command-env.js'
import { runCommand } from './run-command.js'
import type { Phase } from './types.js'

export const execPhase = {
  kind: 'exec',
  rollbackOnFailure: true,
  async run(ctx) {
    const { config } = ctx
    const what = config.name ? `exec "${config.name}"` : 'exec'
    const { ms } = await runCommand({
      command: fillCommand(config.run, ctx.vars),
      shell: config.shell,
      cwd: ctx.planDir,
      env: commandEnv(ctx, config.env),
      timeoutMs: parseDuration(config.timeout),
      signal: ctx.signal,
      onLine: (stream, line) => ctx.output(stream, line),
      failCode: 'EXEC_FAILED',
      timeoutCode: 'EXEC_FAILED',
      what,
    })
    return `${what} finished in ${ms} ms`
  },
} satisfies Phase<'exec'>
