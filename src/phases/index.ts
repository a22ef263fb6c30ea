/**
 * The phase registry: one explicit record, one entry per phase kind. The plan format (schema,
 * checks, paths, descriptions, JSON Schema), the engine and the commands iterate it; adding a
 * kind is one file beside this one and one line here (and its test and example).
 */
import type * as z from 'zod'
import { BugError } from '../errors.js'
import { approvePhase } from './approve.js'
import { backfillPhase } from './backfill.js'
import { contractPhase } from './contract.js'
import { deployPhase } from './deploy.js'
import { execPhase } from './exec.js'
import { expandPhase } from './expand.js'
import { smokePhase } from './smoke.js'
import { standbyPhase } from './standby.js'
import { switchPhase } from './switch.js'
import type { AnyPhaseDefinition, PlanStep } from './types.js'
import { verifyPhase } from './verify.js'

export const phases = {
  expand: expandPhase,
  backfill: backfillPhase,
  deploy: deployPhase,
  smoke: smokePhase,
  switch: switchPhase,
  verify: verifyPhase,
  standby: standbyPhase,
  contract: contractPhase,
  approve: approvePhase,
  exec: execPhase,
}

export type PhaseKind = keyof typeof phases
export type PhaseConfig<K extends PhaseKind> = z.output<(typeof phases)[K]['schema']>
/** A phase entry is an object with exactly one key: the phase kind. */
export type PhaseEntry = { [K in PhaseKind]: { [P in K]: PhaseConfig<K> } }[PhaseKind]

const registry = new Map<string, AnyPhaseDefinition>(Object.entries(phases))
let generation = 0

/**
 * Adds a kind beyond the built-in ones (a test's toy kind, an extension): the plan schema, the
 * checks, `plan show` and the JSON Schema include it from then on.
 */
export function registerPhase(definition: AnyPhaseDefinition): void {
  if (registry.has(definition.kind)) {
    throw new BugError(`phase kind "${definition.kind}" is registered twice`)
  }
  registry.set(definition.kind, definition)
  generation++
}

/** Removes a kind that registerPhase added (tests clean up after themselves). */
export function unregisterPhase(kind: string): void {
  if (kind in phases) throw new BugError(`phase kind "${kind}" is built in and cannot be removed`)
  if (registry.delete(kind)) generation++
}

/** Every registered definition, in registry order. */
export function phaseDefinitions(): AnyPhaseDefinition[] {
  return [...registry.values()]
}

/** Changes whenever the registry does, so what is built from it can be cached. */
export function phaseRegistryGeneration(): number {
  return generation
}

export function phaseDefinition(kind: string): AnyPhaseDefinition | undefined {
  return registry.get(kind)
}

/** The kind of a phase entry (its one key) and its config. */
export function phaseOf(entry: object): { kind: string; config: unknown } {
  const [kind] = Object.keys(entry)
  return { kind, config: (entry as Record<string, unknown>)[kind] }
}

/** Each entry of the plan's phases with the definition of its kind. */
export function planSteps(plan: { phases: readonly object[] }): PlanStep[] {
  return plan.phases.map((entry, index) => {
    const { kind, config } = phaseOf(entry)
    const definition = registry.get(kind)
    if (!definition)
      throw new BugError(`the plan has a phase of kind "${kind}", which no definition registers`)
    return { index, kind, config, definition }
  })
}

/** The config of the first step of a kind, typed by its definition. */
export function configOf<K extends PhaseKind>(
  plan: { phases: readonly object[] },
  kind: K,
): PhaseConfig<K> | undefined {
  const step = plan.phases.map(phaseOf).find((p) => p.kind === kind)
  return step?.config as PhaseConfig<K> | undefined
}
