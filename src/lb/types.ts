/**
 * The load balancer port, in domain terms. Adapters (aws-elbv2, haproxy, nginx) implement it;
 * the engine and the commands use nothing else. The load balancer is the source of truth for
 * which pool is live: every command reads it from here, never from the journal.
 */
import { otherPool, poolNames, type PoolName } from '../pools.js'
import { sleep } from '../sleep.js'

export { otherPool, type PoolName }
export const pools: readonly PoolName[] = poolNames

/** Where traffic goes now. Weights are percentages that add up to 100. */
export interface Traffic {
  /** The pool that gets the larger share (on a 50/50 split: blue). */
  live: PoolName
  weights: Record<PoolName, number>
  /** True while both pools get traffic (a stepped switch in progress). */
  split: boolean
  /** Something the adapter could not square, in words (e.g. nginx's file not yet reloaded). */
  note?: string
  /**
   * Group stickiness in force on the switched action, when the load balancer has it on (ELBv2's
   * TargetGroupStickinessConfig): clients holding its cookie stay on their pool whatever the weights.
   */
  stickiness?: Stickiness
  /**
   * Server persistence in force, in the load balancer's words (HAProxy: `cookie SRV`,
   * `stick-table shop`): clients it holds stay on their server at weight 0.
   */
  persistence?: string
}

export interface Stickiness {
  enabled: true
  durationSeconds: number
}

export type TargetHealth =
  'healthy' | 'unhealthy' | 'initial' | 'draining' | 'unused' | 'unavailable' | 'unknown'

export interface Target {
  /** Provider-specific id: instance id, IP, server name. */
  id: string
  /** Address and port to connect to for smoke tests. */
  address: string
  port: number
  health: TargetHealth
  /** Why it is not healthy, in the provider's words. */
  reason?: string
}

export interface ShiftResult {
  /** False when the load balancer already did what was asked (an idempotent no-op). */
  changed: boolean
  before: Traffic
  after: Traffic
  /** What the adapter did beyond the weights, for people (e.g. stickiness turned off by a rollback). */
  notes?: string[]
}

export interface ShiftOptions {
  /**
   * What happens to clients the load balancer keeps on a pool by stickiness. `move` (the default
   * for a shift to 100%, as a rollback does) sends every client to `to`, sticky ones too; `stay`
   * (the default below 100%, and what a forward switch wants) keeps stickiness as configured.
   * Adapters without stickiness ignore it.
   */
  stickyClients?: 'move' | 'stay'
}

export interface WaitOptions {
  timeoutMs: number
  intervalMs?: number
  signal?: AbortSignal
  /** Called after each poll, for progress output. */
  onPoll?: (targets: Target[]) => void
}

export interface LoadBalancer {
  readonly provider: string
  /** One line saying what is switched, e.g. "listener …/app/shop/… (eu-west-1)". */
  describe(): string
  /** Reads the current traffic split from the load balancer itself. */
  traffic(): Promise<Traffic>
  /**
   * Sends `weight` percent of traffic to `to` and the rest to the other pool (default 100),
   * reads the result back and verifies it. A shift to the current state changes nothing.
   */
  shift(to: PoolName, weight?: number, options?: ShiftOptions): Promise<ShiftResult>
  /** The targets of a pool with their health as the load balancer sees it. */
  targets(pool: PoolName): Promise<Target[]>
  /** Resolves with the targets once every target of the pool is healthy (and there is at least one). */
  waitHealthy(pool: PoolName, options: WaitOptions): Promise<Target[]>
  /** Releases connections and sockets. */
  close(): Promise<void>
}

/** Builds a Traffic value from weights, so every adapter agrees on `live` and `split`. */
export function trafficFrom(weights: Record<PoolName, number>): Traffic {
  const total = weights.blue + weights.green
  const normalized =
    total === 0
      ? { blue: 0, green: 0 }
      : {
          blue: Math.round((weights.blue * 100) / total),
          green: 100 - Math.round((weights.blue * 100) / total),
        }
  return {
    live: normalized.green > normalized.blue ? 'green' : 'blue',
    weights: normalized,
    split: normalized.blue > 0 && normalized.green > 0,
  }
}

/** The weights a shift to `to` at `weight` percent asks for. */
export function desiredWeights(to: PoolName, weight = 100): Record<PoolName, number> {
  return to === 'blue' ? { blue: weight, green: 100 - weight } : { blue: 100 - weight, green: weight }
}

/**
 * Equal up to rounding: weights that map percentages onto whole server weights (HAProxy 0–256,
 * nginx ≥ 1) can come back 1 point off, but a pool at 0 must stay at 0.
 */
export function trafficCloseTo(a: Traffic, b: Traffic): boolean {
  return pools.every(
    (pool) =>
      (a.weights[pool] === 0) === (b.weights[pool] === 0) && Math.abs(a.weights[pool] - b.weights[pool]) <= 1,
  )
}

export function sameTraffic(a: Traffic, b: Traffic): boolean {
  return a.weights.blue === b.weights.blue && a.weights.green === b.weights.green
}

/** Shared polling loop for waitHealthy: adapters supply how to read targets. */
/** The one test of a pool's health: it has targets, and every one is healthy. */
export function poolHealth(targets: Target[]): { healthy: boolean; sick: Target[] } {
  const sick = targets.filter((t) => t.health !== 'healthy')
  return { healthy: targets.length > 0 && sick.length === 0, sick }
}

export async function pollUntilHealthy(
  read: () => Promise<Target[]>,
  pool: PoolName,
  options: WaitOptions,
  onTimeout: (targets: Target[]) => Error,
): Promise<Target[]> {
  const deadline = Date.now() + options.timeoutMs
  const interval = options.intervalMs ?? 1000
  for (;;) {
    options.signal?.throwIfAborted()
    const targets = await read()
    options.onPoll?.(targets)
    if (poolHealth(targets).healthy) return targets
    if (Date.now() + interval > deadline) throw onTimeout(targets)
    await sleep(interval, options.signal)
  }
}

/** "blue 90% / green 10%", or "green is live": how commands name a traffic state. */
export function describeTraffic(traffic: Traffic): string {
  return traffic.split
    ? `blue ${traffic.weights.blue}% / green ${traffic.weights.green}%`
    : `${traffic.live} is live`
}
