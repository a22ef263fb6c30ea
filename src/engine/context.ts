/**
 * What the engine works with: the services every phase gets, with the whole plan. Commands build
 * it (src/cli/context.ts) and hand it over; the engine and the phases never construct adapters.
 */
import type { PhaseServices } from '../phases/types.js'
import type { Plan } from '../plan/schema.js'

export type EngineContext = PhaseServices<Plan>
