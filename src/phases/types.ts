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
}

export interface Phase<K extends PhaseKind> {
  kind: K
  /**
   * Whether a failure of this phase, once traffic has moved to the new pool, should switch
   * back automatically. Contract failures must not (the old version may no longer fit the schema).
   */
  rollbackOnFailure: boolean
  /** Does the step; returns a one-line summary for the journal. Must be idempotent. */
  run(ctx: PhaseRunContext<K>): Promise<string>
}

export type AnyPhase = { [K in PhaseKind]: Phase<K> }[PhaseKind]
