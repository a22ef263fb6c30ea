/** How every adapter waits for a pool and gives up, so the engine and users see one shape. */
import { BluegreenError } from '../errors.js'
import { formatDuration } from '../format/duration.js'
import { poolHealth, pollUntilHealthy, type PoolName, type Target, type WaitOptions } from './types.js'

/** One line per target, for error details: `id address:port health (reason)`. */
export function describeTarget(t: Target): string {
  return `${t.id} ${t.address}:${t.port} ${t.health}${t.reason ? ` (${t.reason})` : ''}`
}

export function unhealthyPoolError(
  pool: PoolName,
  targets: Target[],
  timeoutMs: number,
  hint: string,
): BluegreenError {
  const bad = poolHealth(targets).sick
  const waited = formatDuration(timeoutMs)
  return new BluegreenError({
    code: 'POOL_UNHEALTHY',
    message:
      targets.length === 0
        ? `pool ${pool} has no targets (waited ${waited})`
        : `pool ${pool} is not healthy after ${waited}: ${bad.length} of ${targets.length} targets not healthy`,
    details: bad.map(describeTarget),
    hint,
  })
}

/** Polls `read` until every target of the pool is healthy; gives up with `unhealthyPoolError`. */
export function waitForHealthyPool(
  read: () => Promise<Target[]>,
  pool: PoolName,
  options: WaitOptions,
  hint: (targets: Target[]) => string,
): Promise<Target[]> {
  return pollUntilHealthy(read, pool, options, (targets) =>
    unhealthyPoolError(pool, targets, options.timeoutMs, hint(targets)),
  )
}

/** A shift's weight: a whole percentage from 0 to 100, or a usage error. */
export function checkPercent(weight: number): void {
  if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
    throw new BluegreenError({
      code: 'USAGE',
      message: `cannot send ${weight}% of traffic`,
      hint: 'Use a whole percentage from 0 to 100',
    })
  }
}
