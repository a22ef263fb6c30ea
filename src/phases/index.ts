/** The phase registry: one explicit record, one entry per phase kind. */
import type { PhaseKind } from '../plan/schema.js'
import { backfillPhase } from './backfill.js'
import { contractPhase } from './contract.js'
import { deployPhase } from './deploy.js'
import { execPhase } from './exec.js'
import { expandPhase } from './expand.js'
import { smokePhase } from './smoke.js'
import { standbyPhase } from './standby.js'
import { switchPhase } from './switch.js'
import type { Phase } from './types.js'
import { verifyPhase } from './verify.js'

export const phases: { [K in PhaseKind]: Phase<K> } = {
  expand: expandPhase,
  backfill: backfillPhase,
  deploy: deployPhase,
  smoke: smokePhase,
  switch: switchPhase,
  verify: verifyPhase,
  standby: standbyPhase,
  contract: contractPhase,
  exec: execPhase,
}
