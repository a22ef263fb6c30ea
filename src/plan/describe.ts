/**
 * What each step of a release will do, in words: `plan show`, the engine's --dry-run and its
 * step lines all ask each phase's definition (src/phases/<kind>.ts, `describe`), with the same
 * pure helpers (src/phases/words.ts: no network, no database, no file system), so they can never
 * disagree.
 */
import { relative } from 'node:path'
import { providerDefinition } from '../lb/index.js'
import type { PlaceholderVars } from '../format/placeholders.js'
import { planSteps } from '../phases/index.js'
import type { PlanStep, StepDescription, StepTouches } from '../phases/types.js'
import { describeContext } from '../phases/words.js'
import type { PhaseEntry, Plan } from './schema.js'

export type { StepDescription, StepTouches }

export interface DescribeOptions {
  /** Paths (migration dirs, CA files) are shown relative to this directory, e.g. process.cwd(). */
  relativeTo?: string
}

/** Every step of the plan, in order. */
export function describePlan(
  plan: Plan,
  vars: PlaceholderVars,
  options: DescribeOptions = {},
): StepDescription[] {
  return describeSteps(plan, planSteps(plan), vars, options)
}

/** One phase entry, described in the context of a plan. */
export function describeStep(
  entry: PhaseEntry,
  plan: Plan,
  vars: PlaceholderVars,
  options: DescribeOptions = {},
): StepDescription {
  const [step] = planSteps({ phases: [entry] })
  return describeSteps(plan, [step], vars, options)[0]
}

function describeSteps(
  plan: Plan,
  steps: PlanStep[],
  vars: PlaceholderVars,
  options: DescribeOptions,
): StepDescription[] {
  const provider = providerDefinition(plan.loadBalancer.provider)
  const context = describeContext(plan, vars, {
    relativeTo: options.relativeTo,
    steps,
    loadBalancerLine: (path) => provider.describe(plan.loadBalancer, path),
  })
  return steps.map(({ kind, config, definition }) => {
    const { target, summary, details, durationMs } = definition.describe(config, context)
    return {
      kind,
      touches: definition.touches,
      target,
      summary,
      details,
      ...(durationMs !== undefined ? { durationMs } : {}),
    }
  })
}

/**
 * Numbered lines for a terminal: `4. smoke      pool green   GET /healthz → 200 …`, details
 * indented below their step.
 */
export function formatSteps(steps: StepDescription[]): string[] {
  const number = (i: number) => `${i + 1}.`.padEnd(String(steps.length).length + 2)
  const kindWidth = Math.max(...steps.map((s) => s.kind.length), 0) + 2
  const targetWidth = Math.max(...steps.map((s) => s.target.length), 0) + 2
  const indent = ' '.repeat(number(0).length + kindWidth + targetWidth)
  return steps.flatMap((step, i) => [
    `${number(i)}${step.kind.padEnd(kindWidth)}${step.target.padEnd(targetWidth)}${step.summary}`,
    ...step.details.map((detail) => `${indent}${detail}`),
  ])
}

/** The lines above the steps in `plan show`: the plan, what is switched, where the journal is. */
export function describeHeader(file: string, plan: Plan, steps: StepDescription[], cwd: string): string[] {
  const version = plan.version ?? '{{version}} (not set: pass --version)'
  return [
    `${file}: app ${plan.app}, version ${version}, ${steps.length} step${steps.length === 1 ? '' : 's'}`,
    `load balancer: ${providerDefinition(plan.loadBalancer.provider).summary(plan.loadBalancer)}`,
    plan.database
      ? `database: ${plan.database.url}`
      : `journal: ${plan.state ? relative(cwd, plan.state.file) : 'the default state file'}`,
    'pools: blue and green; which one is live is read from the load balancer at run time',
  ]
}
