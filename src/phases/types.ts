/**
 * One phase kind, one file, one definition: its config schema, its words for `plan show` and
 * --dry-run, its checks at load, the paths it resolves, what it needs, how it fails, and how it
 * runs. The plan format (src/plan/), the engine and the commands know phases only through this
 * interface and the registry in index.ts. Optional abilities are optional fields.
 */
import type * as z from 'zod'
import type { Client } from '../db/client.js'
import type { Emit } from '../events.js'
import type { PlanPath, RawIssue } from '../format/issues.js'
import type { PlanBase, PoolName } from '../format/parts.js'
import type { Journal, ReleaseRecord } from '../journal/journal.js'
import type { LoadBalancer } from '../lb/types.js'
import type { Notifier } from '../notify/notifier.js'

/** What every step works with. The cli layer builds it; phases never construct adapters. */
export interface PhaseServices<P extends PlanBase = PlanBase> {
  plan: P
  planFile: string
  /** Relative paths in the plan (migration dirs, CA files, deploy scripts) resolve against this. */
  planDir: string
  /** Hash of the interpolated plan: a resume refuses a plan that changed. */
  planHash: string
  lb: LoadBalancer
  journal: Journal
  /** Whether the journal is the real store, or a spool kept while the database is unreachable. */
  journalOffline: boolean
  emit: Emit
  signal: AbortSignal
  /** Who runs this, for the lock and the audit log. */
  actor: string
  /** The command line, for the lock holder. */
  command: string
  /** Tells the plan's `notify:` webhooks; never throws, never needs awaiting (see src/notify/). */
  notifier?: Notifier
}

export interface PhaseRunContext<C = unknown> extends PhaseServices {
  config: C
  index: number
  release: ReleaseRecord
  /** The pool being released to (inactive at the start of the release). */
  to: PoolName
  /** The pool live at the start of the release (standby afterwards). */
  from: PoolName
  /** Placeholder values for {{pool}}, {{version}}, {{app}}, {{host}}. */
  vars: Record<string, string>
  /** Every step of the plan with its definition (a contract reads what the others declared). */
  steps: readonly PlanStep[]
  /** Reports progress or a line of output for this step. */
  progress(message: string, numbers?: { done?: number; total?: number; etaMs?: number }): void
  output(stream: 'stdout' | 'stderr', line: string): void
  /**
   * Records the release as promoted: its pool live, the pool it left the standby for
   * `windowMs` (none: until retired or replaced). Idempotent.
   */
  promote(windowMs?: number): Promise<void>
}

export type StepTouches = 'database' | 'pool' | 'load balancer' | 'journal' | 'none'

/** A step in words: what `plan show`, --dry-run and the engine's step lines say. */
export interface StepWords {
  /** What it touches, for people: "pool green", "database shop", "load balancer", "journal", "—". */
  target: string
  /** One line: what the step will do, with its durations. */
  summary: string
  /** Further lines: settings that matter when reading the plan. */
  details: string[]
  /** The time the plan gives the step (timeout, deadline, bake or standby time), if it says. */
  durationMs?: number
  /** What the step makes this release's contract check first, in words (see contractChecks). */
  contractWords?: string[]
}

export interface StepDescription extends StepWords {
  kind: string
  touches: StepTouches
}

/** Helpers a definition's `describe` writes with (src/phases/words.ts): pure, no I/O. */
export interface DescribeContext {
  plan: PlanBase
  /** Fills {{app}}, {{version}}, {{pool}}… where known. */
  fill: (text: string) => string
  /** A path as the reader should see it (relative to the working directory for `plan show`). */
  path: (path: string) => string
  /** An argv or shell command as one copyable line. */
  command: (run: string | string[], shell: boolean) => string
  /** "pool green", or "{{pool}} (the inactive pool)" when not yet known. */
  poolTarget: () => string
  /** The pool the release leaves (the standby afterwards), in words. */
  oldPool: () => string
  /** The pool the release goes to, in words. */
  newPool: () => string
  /** "database shop". */
  databaseTarget: () => string
  /** The provider's own line: what a switch changes, e.g. "haproxy backend app via …". */
  loadBalancerLine: () => string
  /** The plan's steps: a definition may speak of what other steps declared. */
  steps: readonly PlanStep[]
}

/** Where a definition's load-time checks are: the entry's path and the whole plan. */
export interface ValidateContext {
  /** `['phases', 3, 'expand']`: issue paths start here. */
  path: PlanPath
  plan: PlanBase
  /** The plan file's directory (paths in the config are already absolute). */
  planDir: string
  /** Offset in the file of a piece of text at a path (for issues inside a long string). */
  offsetOfText: (path: PlanPath, text: string) => number
}

/** What a contract must check before it drops anything (see contract-run.ts). */
export interface ContractChecks {
  syncs: { table: string; forward: Record<string, string>; backward: Record<string, string> }[]
  backfills: { table: string; set: string; where: string; key?: string[] }[]
}

/** What a --dry-run may look at beyond the plan. */
export interface DryRunContext {
  plan: PlanBase
  planDir: string
  /** The journal's database, when it answers. */
  client?: Client
  /** Migration files the journal records as applied, by phase. */
  applied: { phase: string; file: string }[]
}

/** After a rollback's switch: what a definition may check (verify: production answers from `to`). */
export interface RollbackConfirmContext {
  plan: PlanBase
  planDir: string
  to: PoolName
  /** The version the pool holds, when the journal knows it. */
  version?: string
  signal: AbortSignal
}

export interface PhaseDefinition<K extends string = string, S extends z.ZodType = z.ZodType> {
  kind: K
  /** The config under `- <kind>:`; its `.describe()` is the phase's one-line purpose. */
  schema: S
  touches: StepTouches
  /** The kind needs the plan's database: a plan without one is refused at load. */
  needsDatabase?: boolean
  /**
   * Whether a failure of this phase, once traffic has moved to the new pool, should switch back
   * automatically. Contract failures must not (the old version may no longer fit the schema).
   */
  rollbackOnFailure: boolean
  /**
   * Whether the step changes what the inactive pool runs or serves (deploy, switch): before it
   * runs, the engine records that pool as a candidate of this release, no longer a standby.
   */
  replacesPool?: boolean
  /** Whether the step moves production traffic: only a plan with one makes a version live. */
  movesTraffic?: boolean
  /** Config keys holding file or directory paths: resolved against the plan's directory at load. */
  paths?: readonly string[]
  /** The step in words, for `plan show`, --dry-run and the engine's step lines. */
  describe(config: z.output<S>, words: DescribeContext): StepWords
  /** Cross-checks of the config with the rest of the plan, once, at load. */
  validate?(config: z.output<S>, at: ValidateContext): RawIssue[]
  /** Checks of the files the config names (paths already resolved), at load. */
  checkFiles?(config: z.output<S>, at: ValidateContext): Promise<RawIssue[]>
  /** More for --dry-run than the plan says (files still to apply, rows to touch), or nothing. */
  dryRun?(config: z.output<S>, ctx: DryRunContext): Promise<string | undefined>
  /** The standby window the step keeps the old pool for (a promoted release uses the plan's). */
  standbyWindowMs?(config: z.output<S>): number
  /** What this release's contract must check before dropping anything. */
  contractChecks?(config: z.output<S>): Promise<Partial<ContractChecks>>
  /** After a rollback's switch: proves production answers from the pool; throws when it does not. */
  confirmRollback?(config: z.output<S>, ctx: RollbackConfirmContext): Promise<void>
  /**
   * Loads what run() loads on first use (undici, say), for the engine to call while the step
   * before this one waits on something outside the process (a deploy command, the database), so
   * that this one starts without the load. Its failure is ignored: run() meets it again, and says.
   */
  warmUp?(): Promise<unknown>
  /** Does the step; returns a one-line summary for the journal. Must be idempotent. */
  run(ctx: PhaseRunContext<z.output<S>>): Promise<string>
}

/** A definition of any kind, as the registry holds it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- configs differ by kind; each file checks its own
export type AnyPhaseDefinition = PhaseDefinition<string, any>

/** One entry of the plan's `phases`, with the definition of its kind. */
export interface PlanStep {
  index: number
  kind: string
  config: unknown
  definition: AnyPhaseDefinition
}

/** Types a definition against its schema (the config type of every method follows from it). */
export function definePhase<K extends string, S extends z.ZodType>(
  definition: PhaseDefinition<K, S>,
): PhaseDefinition<K, S> {
  return definition
}
