import { fillPlaceholders } from '../plan/placeholders.js'
import type { PhaseKind } from '../plan/schema.js'
import type { PhaseRunContext } from './types.js'

/** The environment a deploy or exec command sees: who, what, where, plus the pool's own settings. */
export function commandEnv<K extends PhaseKind>(
  ctx: PhaseRunContext<K>,
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

export function fillCommand(command: string[] | string, vars: Record<string, string>): string[] | string {
  return Array.isArray(command)
    ? command.map((part) => fillPlaceholders(part, vars))
    : fillPlaceholders(command, vars)
}
