import { formatDuration, parseDuration } from '../plan/duration.js'
import type { Phase } from './types.js'

export const standbyPhase = {
  kind: 'standby',
  rollbackOnFailure: false,
  async run(ctx) {
    const { journal, plan, from } = ctx
    const windowMs = parseDuration(ctx.config.for)
    // Verified: the new pool is live, and the one it replaced is the known-good rollback target.
    await ctx.promote(windowMs)
    const previous = (await journal.pools(plan.app))[from]
    return `${from}${previous?.version ? ` (${previous.version})` : ''} stays the rollback target for ${formatDuration(windowMs)}`
  },
} satisfies Phase<'standby'>
