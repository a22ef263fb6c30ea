/**
 * The provider registry: one explicit record, one entry per load-balancer provider. The plan
 * format and the commands iterate it; adding a provider is one file in providers/ and one line
 * here. Adapters load lazily: only the one a plan uses is imported.
 */
import type * as z from 'zod'
import { BluegreenError, BugError } from '../errors.js'
import type { PlanCore } from '../format/parts.js'
import type { AnyProviderDefinition } from './provider.js'
import { awsElbv2Provider } from './providers/aws-elbv2.js'
import { haproxyProvider } from './providers/haproxy.js'
import { nginxProvider } from './providers/nginx.js'
import type { LoadBalancer } from './types.js'

export const providers = {
  'aws-elbv2': awsElbv2Provider,
  haproxy: haproxyProvider,
  nginx: nginxProvider,
}

export type ProviderName = keyof typeof providers
export type LoadBalancerConfig = {
  [P in ProviderName]: z.output<(typeof providers)[P]['schema']>
}[ProviderName]

const registry = new Map<string, AnyProviderDefinition>(Object.entries(providers))
let generation = 0

/** Adds a provider beyond the built-in ones: the plan schema, checks and `plan show` include it. */
export function registerProvider(definition: AnyProviderDefinition): void {
  if (registry.has(definition.provider)) {
    throw new BugError(`provider "${definition.provider}" is registered twice`)
  }
  registry.set(definition.provider, definition)
  generation++
}

export function unregisterProvider(provider: string): void {
  if (provider in providers) throw new BugError(`provider "${provider}" is built in and cannot be removed`)
  if (registry.delete(provider)) generation++
}

export function providerDefinitions(): AnyProviderDefinition[] {
  return [...registry.values()]
}

export function providerRegistryGeneration(): number {
  return generation
}

export function providerDefinition(provider: string): AnyProviderDefinition {
  const definition = registry.get(provider)
  if (!definition) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `unknown load balancer provider "${provider}"`,
      hint: `use one of: ${[...registry.keys()].join(', ')}`,
    })
  }
  return definition
}

/** Builds the adapter the plan names. */
export function createLoadBalancer(
  config: { provider: string; [key: string]: unknown },
  pools: PlanCore['pools'],
): Promise<LoadBalancer> {
  return providerDefinition(config.provider).create(config, pools)
}
