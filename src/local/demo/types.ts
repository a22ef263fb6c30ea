/**
 * What `bluegreen demo` shows its callers (src/commands/demo.ts runs it, src/ui/demo.ts draws it),
 * and the few facts about the demo release that its script, narration and stack share.
 */
import type { ContractDecision } from '../../engine/contract.js'
import type { EngineContext } from '../../engine/context.js'
import type { ReleaseResult } from '../../engine/release.js'
import type { RollbackResult } from '../../engine/rollback.js'
import type { PhaseKind } from '../../plan/schema.js'

/** Production runs v1 at the start; the demo releases v2, which reads the split name. */
export const demoVersions = { from: '1.0.0', to: '2.0.0' } as const
/** Rows in the seeded profiles table. */
export const demoProfiles = 2000
export const demoDatabase = 'bluegreen_demo'

export type PostgresChoice = 'system' | 'embedded' | 'auto' | { url: string }

export type DemoTopic = PhaseKind | 'setup' | 'release' | 'rollback' | 'retire' | 'schema' | 'stop'

/** One paragraph of the demo's prose, under the topic it explains. */
export interface Narration {
  topic: DemoTopic
  text: string
}

export type DemoEvent =
  | ({ type: 'demo.narrate' } & Narration)
  /** What the demo started, so that anyone can check it is gone afterwards. */
  | {
      type: 'demo.stack'
      postgres: DemoResult['postgres']
      productionUrl: string
      albEndpoint: string
      stateDir: string
    }
  /** What production answered: a request through the load balancer's listener. */
  | {
      type: 'demo.answer'
      url: string
      status: number
      pool?: string
      version?: string
      profiles: string[]
      reads: string
    }

/**
 * The environment an engine service must see to run against the demo stack: the plan's
 * ${VAR}s, the AWS SDK's credentials, the spool's BLUEGREEN_STATE_DIR and the deploy command's
 * control URL. `unset` names the user's own variables that must step aside.
 */
export interface DemoEnvironment {
  set: Record<string, string>
  unset: string[]
}

/** Runs one engine service with a context built from the plan, as a command does. */
export type EngineRunner = <T>(
  invocation: { command: string; version?: string; env: DemoEnvironment },
  fn: (ctx: EngineContext) => Promise<T>,
) => Promise<T>

export interface DemoReady {
  /** The plan file, as the user would type it. */
  plan: string
  productionUrl: string
  /** What another terminal must export to run bluegreen against the demo stack. */
  env: Record<string, string>
  commands: { run: string; why: string }[]
}

export interface DemoOptions {
  planFile: string
  postgres: PostgresChoice
  engine: EngineRunner
  emit: (event: DemoEvent) => void
  /**
   * 'inline' narrates each phase as it starts. 'upfront' narrates a release's phases before it
   * starts: listr2 holds stdout while it draws its task tree, so a line written mid-release
   * would only appear after it.
   */
  narration: 'inline' | 'upfront'
  signal: AbortSignal
  /** `--keep`: called with everything running; everything stops when it resolves. */
  hold?: (ready: DemoReady) => Promise<void>
}

export interface DemoPart {
  name: string
  ms: number
  detail: string
}

export interface DemoResult {
  ok: true
  ms: number
  parts: DemoPart[]
  postgres: { kind: 'system' | 'embedded' | 'external'; pid?: number; port: number }
  releases: ReleaseResult[]
  rollback: RollbackResult
  retired: { pool: string; version?: string }
  contracts: ContractDecision[]
  /** profiles' columns: at the start, after expand, after contract. */
  columns: { before: string[]; expanded: string[]; after: string[] }
  /** Whether everything the demo started is gone (checked by PID for PostgreSQL). */
  stopped: boolean
}
