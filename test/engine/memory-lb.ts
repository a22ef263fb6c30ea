/** An in-memory load balancer, for unit tests of the engine alone (adapters are tested for real in test/lb). */
import {
  desiredWeights,
  pollUntilHealthy,
  sameTraffic,
  trafficFrom,
  type LoadBalancer,
  type PoolName,
  type Target,
  type TargetHealth,
} from '../../src/lb/types.js'
import { BluegreenError } from '../../src/errors.js'

export class MemoryLoadBalancer implements LoadBalancer {
  readonly provider = 'haproxy' as const
  weights: Record<PoolName, number> = { blue: 100, green: 0 }
  health: Record<PoolName, TargetHealth> = { blue: 'healthy', green: 'healthy' }
  shifts: { to: PoolName; weight: number; changed: boolean }[] = []
  /** Makes the next traffic() read fail, to model an unreachable load balancer. */
  failReads = 0

  describe(): string {
    return 'memory load balancer'
  }
  async traffic() {
    if (this.failReads > 0) {
      this.failReads--
      throw new BluegreenError({
        code: 'LB_UNREACHABLE',
        message: 'load balancer unreachable',
        hint: 'retry',
      })
    }
    return trafficFrom(this.weights)
  }
  async shift(to: PoolName, weight = 100) {
    const before = trafficFrom(this.weights)
    const after = trafficFrom(desiredWeights(to, weight))
    const changed = !sameTraffic(before, after)
    this.weights = after.weights
    this.shifts.push({ to, weight, changed })
    return { changed, before, after }
  }
  async targets(pool: PoolName): Promise<Target[]> {
    return [
      { id: `${pool}-1`, address: '127.0.0.1', port: pool === 'blue' ? 1 : 2, health: this.health[pool] },
    ]
  }
  async waitHealthy(
    pool: PoolName,
    options: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal },
  ) {
    return pollUntilHealthy(
      () => this.targets(pool),
      pool,
      { ...options, intervalMs: 10 },
      () => new BluegreenError({ code: 'POOL_UNHEALTHY', message: `${pool} unhealthy`, hint: 'fix it' }),
    )
  }
  async close() {}
}
