/** The error every adapter's waitHealthy gives up with, so the engine and users see one shape. */
import { BluegreenError } from '../errors.js'
import type { PoolName, Target } from './types.js'

export function unhealthyPoolError(
  pool: PoolName,
  targets: Target[],
  timeoutMs: number,
  hint: string,
): BluegreenError {
  const bad = targets.filter((t) => t.health !== 'healthy')
  const seconds = Math.round(timeoutMs / 100) / 10
  return new BluegreenError({
    code: 'POOL_UNHEALTHY',
    message:
      targets.length === 0
        ? `pool ${pool} has no targets (waited ${seconds}s)`
        : `pool ${pool} is not healthy after ${seconds}s: ${bad.length} of ${targets.length} targets not healthy`,
    details: bad.map((t) => `${t.id} ${t.address}:${t.port} ${t.health}${t.reason ? ` (${t.reason})` : ''}`),
    hint,
  })
}
