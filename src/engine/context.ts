/**
 * What the engine works with. Commands build it (src/cli/context.ts) and hand it over; the
 * engine and the phases never construct adapters themselves.
 */
import type { LoadBalancer } from '../lb/types.js'
import type { Plan } from '../plan/schema.js'
import type { Emit } from './events.js'
import type { Journal } from './journal.js'

export interface EngineContext {
  plan: Plan
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
}
