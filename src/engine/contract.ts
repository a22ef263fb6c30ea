/**
 * `bluegreen contract` as a service: under the release lock, the pending contracts that are safe
 * and due run (src/phases/contract-run.ts decides which). The demo and the command both call this.
 */
import { currentHolderFor } from '../journal/holder.js'
import { runDueContracts, type ContractDecision } from '../phases/contract-run.js'
import type { EngineContext } from './context.js'

export type { ContractDecision }

export function contract(
  ctx: EngineContext,
  options: Parameters<typeof runDueContracts>[1],
): Promise<ContractDecision[]> {
  return ctx.journal.withLock(ctx.plan.app, currentHolderFor(ctx), () => runDueContracts(ctx, options))
}
