/**
 * Turns pool percentages into per-server weights for load balancers that balance across servers
 * (HAProxy, nginx), where a pool's share is the sum of its servers' weights. Every server of a
 * pool gets the same weight, chosen so that the pool sums keep the asked ratio even when the pools
 * have different sizes: blue servers get blue% × |green|, green servers green% × |blue|, reduced
 * by their greatest common divisor (100/0 → 1/0, 50/50 → 1/1, 10/90 → 1/9). Only when that exceeds
 * the provider's maximum weight (HAProxy: 256) are they scaled down, with a rounding error of
 * about a percent.
 */
import type { PoolName } from './types.js'

export function serverWeights(
  percent: Record<PoolName, number>,
  serverCount: Record<PoolName, number>,
  maxWeight: number,
): Record<PoolName, number> {
  let blue = percent.blue * serverCount.green
  let green = percent.green * serverCount.blue
  const divisor = gcd(blue, green)
  if (divisor > 0) {
    blue /= divisor
    green /= divisor
  }
  const largest = Math.max(blue, green)
  if (largest > maxWeight) {
    const scale = maxWeight / largest
    blue = blue === 0 ? 0 : Math.max(1, Math.round(blue * scale))
    green = green === 0 ? 0 : Math.max(1, Math.round(green * scale))
  }
  return { blue, green }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b)
}
