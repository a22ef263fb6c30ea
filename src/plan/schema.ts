/**
 * The whole plan format, assembled from the registries: the plan's own sections (src/format/),
 * `loadBalancer:` from the provider definitions (src/lb/providers/), and each `- <kind>:` entry
 * from the phase definitions (src/phases/). The JSON Schema in plans/plan.schema.json is
 * generated from what this builds. Built once per registry state, on first use.
 */
import * as z from 'zod'
import { PlanCore } from '../format/parts.js'
import { Notify } from '../notify/schema.js'
import { providerDefinitions, providerRegistryGeneration, type LoadBalancerConfig } from '../lb/index.js'
import {
  phaseDefinitions,
  phaseRegistryGeneration,
  type PhaseConfig,
  type PhaseEntry,
  type PhaseKind,
} from '../phases/index.js'

export type { LoadBalancerConfig, PhaseConfig, PhaseEntry, PhaseKind }
export type { AwsElbv2Config } from '../lb/providers/aws-elbv2.js'
export type { HaproxyConfig } from '../lb/providers/haproxy.js'
export type { NginxConfig } from '../lb/providers/nginx.js'
export type { Check, Expect, Pool, PoolName, SyncDeclaration } from '../format/parts.js'
import { phaseOf as entryOf } from '../phases/index.js'

export type Plan = PlanCore & { notify?: Notify; loadBalancer: LoadBalancerConfig; phases: PhaseEntry[] }

/** The kind of a phase entry and its config. */
export function phaseOf(entry: PhaseEntry): { kind: PhaseKind; config: PhaseConfig<PhaseKind> } {
  return entryOf(entry) as { kind: PhaseKind; config: PhaseConfig<PhaseKind> }
}

interface Built {
  key: string
  plan: z.ZodType<Plan>
  /** Every top-level key but `phases` (checked entry by entry, for precise errors). */
  topLevel: z.ZodType
  loadBalancer: z.ZodType
  phases: Map<string, z.ZodType>
}
let built: Built | undefined

function build(): Built {
  const key = `${phaseRegistryGeneration()}:${providerRegistryGeneration()}`
  if (built?.key === key) return built
  const providers = providerDefinitions()
  const names = providers.map((p) => p.provider)
  const loadBalancer = z
    .discriminatedUnion(
      'provider',
      providers.map((p) => p.schema as z.ZodType) as unknown as [
        z.core.$ZodTypeDiscriminable,
        ...z.core.$ZodTypeDiscriminable[],
      ],
    )
    .describe(
      `The load balancer that switches between the pools: provider ${names.slice(0, -1).join(', ')}${names.length > 1 ? ' or ' : ''}${names.at(-1) ?? ''}`,
    )
  const definitions = phaseDefinitions()
  const phases = new Map(definitions.map((d) => [d.kind, d.schema as z.ZodType]))
  const entries = definitions.map((d) => z.strictObject({ [d.kind]: d.schema as z.ZodType }))
  const entry =
    entries.length === 1 ? entries[0] : z.union(entries as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]])
  const { $schema, app, version, database, state, pools, lint } = PlanCore.shape
  const object = z
    .strictObject({
      $schema,
      app,
      version,
      database,
      state,
      loadBalancer,
      pools,
      phases: z.array(entry).min(1).describe('The release, phase by phase, in order'),
      // Here rather than in PlanCore: src/format/ is below src/notify/ in the layers.
      notify: Notify.optional(),
      lint,
    })
    .describe('A bluegreen release plan')
  const plan = object as unknown as z.ZodType<Plan>
  built = { key, plan, topLevel: object.omit({ phases: true }), loadBalancer, phases }
  return built
}

/** The plan schema as the registries make it now. */
export function planSchema(): z.ZodType<Plan> {
  return build().plan
}

/** The plan schema without `phases`. */
export function topLevelSchema(): z.ZodType {
  return build().topLevel
}

/** The schema of one phase kind's config, or undefined for a kind no definition registers. */
export function phaseSchema(kind: string): z.ZodType | undefined {
  return build().phases.get(kind)
}

/** Every registered phase kind, in registry order. */
export function phaseKinds(): string[] {
  return [...build().phases.keys()]
}
