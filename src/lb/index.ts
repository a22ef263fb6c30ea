/** Builds the load balancer adapter a plan names. Adapters load lazily: only the one used is imported. */
import type { LoadBalancerConfig, Plan } from '../plan/schema.js'
import type { LoadBalancer } from './types.js'

export async function createLoadBalancer(
  config: LoadBalancerConfig,
  pools: Plan['pools'],
): Promise<LoadBalancer> {
  switch (config.provider) {
    case 'aws-elbv2': {
      const { createAwsElbv2 } = await import('./aws-elbv2.js')
      return createAwsElbv2(config, pools)
    }
    case 'haproxy': {
      const { createHaproxy } = await import('./haproxy.js')
      return createHaproxy(config, pools)
    }
    case 'nginx': {
      const { createNginx } = await import('./nginx.js')
      return createNginx(config, pools)
    }
  }
}
