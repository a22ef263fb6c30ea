/** What deploy and exec share: the command's environment, its placeholders, and how it is run. */
import type { ErrorCode } from '../errors.js'
import { parseDuration } from '../format/duration.js'
import { fillPlaceholders } from '../format/placeholders.js'
import type { RawIssue } from '../format/issues.js'
import { runCommand } from './run-command.js'
import { fillShellScript } from './shell-quote.js'
import type { PhaseRunContext, ValidateContext } from './types.js'

/** The environment a deploy or exec command sees: who, what, where, plus the pool's own settings. */
export function commandEnv(
  ctx: PhaseRunContext,
  extra: Record<string, string> | undefined,
): Record<string, string> {
  const pool = ctx.plan.pools[ctx.to]
  const fill = (record: Record<string, string> | undefined) =>
    Object.fromEntries(Object.entries(record ?? {}).map(([k, v]) => [k, fillPlaceholders(v, ctx.vars)]))
  return {
    BLUEGREEN_APP: ctx.plan.app,
    BLUEGREEN_VERSION: ctx.release.version,
    BLUEGREEN_POOL: ctx.to,
    BLUEGREEN_LIVE_POOL: ctx.from,
    BLUEGREEN_RELEASE_ID: ctx.release.id,
    ...(pool.addresses ? { BLUEGREEN_POOL_ADDRESSES: pool.addresses.join(',') } : {}),
    ...(pool.servers ? { BLUEGREEN_POOL_SERVERS: pool.servers.join(',') } : {}),
    ...(pool.targetGroupArn ? { BLUEGREEN_TARGET_GROUP_ARN: pool.targetGroupArn } : {}),
    ...fill(pool.env),
    ...fill(extra),
  }
}

/**
 * The command with its placeholders filled. An argv command gets the values as they are (no
 * shell reads them); a `shell: true` command gets each value quoted for where it stands in the
 * script (shell-quote.ts), so a value is always one literal word and never code.
 */
export function fillCommand(
  command: string[] | string,
  vars: Record<string, string>,
  shell = false,
): string[] | string {
  if (shell) return fillShellScript(Array.isArray(command) ? command.join(' ') : command, vars)
  return Array.isArray(command)
    ? command.map((part) => fillPlaceholders(part, vars))
    : fillPlaceholders(command, vars)
}

interface PlanCommand {
  run: string[] | string
  shell: boolean
  env?: Record<string, string>
  timeout: string
}

/** Runs a deploy or exec command of the plan in the plan's directory, streaming its output. */
export async function runPlanCommand(
  ctx: PhaseRunContext,
  config: PlanCommand,
  what: string,
  codes: { fail: ErrorCode; timeout: ErrorCode },
): Promise<number> {
  const { ms } = await runCommand({
    command: fillCommand(config.run, ctx.vars, config.shell),
    shell: config.shell,
    cwd: ctx.planDir,
    env: commandEnv(ctx, config.env),
    timeoutMs: parseDuration(config.timeout),
    signal: ctx.signal,
    onLine: (stream, line) => ctx.output(stream, line),
    failCode: codes.fail,
    timeoutCode: codes.timeout,
    what,
  })
  return ms
}

/** A command given as one string runs through a shell only when the plan says so. */
export function commandIssues(config: PlanCommand, at: ValidateContext): RawIssue[] {
  if (typeof config.run !== 'string' || config.shell) return []
  return [
    {
      path: [...at.path, 'run'],
      at: 'value',
      message: 'run is one string, but shell is not true',
      hint: 'write run as a list (run: [./deploy.sh, "{{pool}}"]) or add shell: true to run it with /bin/sh -c',
    },
  ]
}
