/** The two pools. Every layer names them; the plan schema and the load balancer port re-export these. */
export const poolNames = ['blue', 'green'] as const
export type PoolName = (typeof poolNames)[number]

export function otherPool(pool: PoolName): PoolName {
  return pool === 'blue' ? 'green' : 'blue'
}
