import { recordOwnContract, runDueContracts } from '../engine/contract.js'
import type { Phase } from './types.js'

export const contractPhase = {
  kind: 'contract',
  // Never switch back after a contract step: the old version may no longer fit the schema.
  rollbackOnFailure: false,
  async run(ctx) {
    // An earlier release's contract whose checks fail waits (and says why) rather than failing
    // this release after its switch; `bluegreen contract` refuses it with exit 5.
    const decisions = await runDueContracts(ctx, { dryRun: false, onUnsafe: 'wait' })
    const own = await recordOwnContract(ctx, ctx.release, ctx.config)
    const ran = decisions.filter((d) => d.status === 'ran')
    const waiting = decisions.filter((d) => d.status === 'waiting')
    const parts = [
      ran.length > 0
        ? `ran contract of ${ran.map((d) => d.version).join(', ')}`
        : 'no earlier contract was due',
      waiting.length > 0 ? `${waiting.length} still waiting` : undefined,
      own.length > 0 ? `recorded ${own.length} of ${ctx.release.version}'s own as pending` : undefined,
    ]
    return parts.filter(Boolean).join('; ')
  },
} satisfies Phase<'contract'>
