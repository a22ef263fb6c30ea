/**
 * What the engine works with: the services every phase gets, with the whole plan. Commands build
 * it (src/cli/context.ts) and hand it over; the engine and the phases never construct adapters.
 */
import type { Traffic } from '../lb/types.js'
import type { PhaseServices } from '../phases/types.js'
import type { Plan } from '../plan/schema.js'

export type EngineContext = PhaseServices<Plan> & {
  /**
   * The load balancer's traffic, read as soon as its client was made (while the journal's
   * connections were still opening), and when the read started: a rollback decides from it
   * (while it is fresh) and status shows it, instead of waiting for a read of their own. Only
   * commands that ask for it (readTrafficAhead).
   */
  trafficAhead?: { read: Promise<Traffic>; at: number }
}
