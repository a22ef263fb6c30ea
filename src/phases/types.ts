/**
 * One phase kind, one file, one object that `satisfies Phase`. The engine knows phases only
 * through this interface and the registry in index.ts.
 */
import type { EngineContext } from '../engine/context.js'
import type { ReleaseRecord } from '../engine/journal.js'
import type { PhaseConfig, PhaseKind, PoolName } from '../plan/schema.js'

export interface PhaseRunContext<K extends PhaseKind> extends EngineContext {
  config: PhaseConfig<K>
  index: number
  release: ReleaseRecord
  /** The pool being released to (inactive at the start of the release). */
  to: PoolName
  /** The pool live at the start of the release (standby afterwards). */
  from: PoolName
  /** Placeholder values for {{pool}}, {{version}}, {{app}}, {{host}}. */
  vars: Record<string, string>
  /** Reports progress or a line of output for this step. */
  progress(message: string, numbers?: { done?: number; total?: number; etaMs?: number }): void
  output(stream: 'stdout' | 'stderr', line: string): void
  /**
   * Records the release as promoted: its pool live, the pool it left the standby for
   * `windowMs` (none: until retired or replaced). Idempotent.
   */
  promote(windowMs?: number): Promise<void>
}

export interface Phase<K extends PhaseKind> {
  kind: K
  /**
   * Whether a failure of this phase, once traffic has moved to the new pool, should switch
   * back automatically. Contract failures must not (the old version may no longer fit the schema).
   */
  rollbackOnFailure: boolean
  /**
   * Whether the step changes what the inactive pool runs or serves (deploy, switch): before it
   * runs, the engine records that pool as a candidate of this release, no longer a standby.
   */
  replacesPool?: boolean
  /** Does the step; returns a one-line summary for the journal. Must be idempotent. */
  run(ctx: PhaseRunContext<K>): Promise<string>
}

export type AnyPhase = { [K in PhaseKind]: Phase<K> }[PhaseKind]
