/**
 * One provider, one definition: its config schema (under `loadBalancer:`, with `provider: <name>`),
 * what it needs of the pools, the paths it resolves, its line for `plan show`, and `create`,
 * which loads the adapter lazily. src/lb/index.ts is the registry; src/plan/ iterates it.
 */
import type * as z from 'zod'
import type { RawIssue } from '../format/issues.js'
import type { PlanCore, Pool } from '../format/parts.js'
import type { PoolName } from '../pools.js'
import type { LoadBalancer } from './types.js'

export interface ProviderDefinition<P extends string = string, S extends z.ZodType = z.ZodType> {
  provider: P
  /** A strict object with `provider: z.literal(P)`: the `loadBalancer:` section. */
  schema: S
  /** What the provider needs of one pool's config (aws-elbv2: a targetGroupArn). */
  poolIssues(pool: PoolName, config: Pool, lb: z.output<S>): RawIssue[]
  /** Config keys holding file paths: resolved against the plan's directory at load. */
  paths?: readonly string[]
  /** What a switch changes, in one line; `path` shows a path as the reader sees it. */
  describe(config: z.output<S>, path: (path: string) => string): string
  /** A short name of the switched resource, for `plan show`'s header. */
  summary(config: z.output<S>): string
  /** The adapter, loaded only when used. */
  create(config: z.output<S>, pools: PlanCore['pools']): Promise<LoadBalancer>
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- configs differ by provider; each file checks its own
export type AnyProviderDefinition = ProviderDefinition<string, any>

/** Types a definition against its schema. */
export function defineProvider<P extends string, S extends z.ZodType>(
  definition: ProviderDefinition<P, S>,
): ProviderDefinition<P, S> {
  return definition
}

/** The pool-has-no-X issue every provider reports the same way. */
export function missingPoolKey(pool: PoolName, key: string, hint: string): RawIssue {
  return { path: ['pools', pool], at: 'key', message: `pool ${pool} has no ${key}`, hint }
}
