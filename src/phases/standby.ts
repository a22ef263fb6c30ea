import * as z from 'zod'
import { formatDuration, parseDuration } from '../format/duration.js'
import { Duration } from '../format/parts.js'
import { definePhase } from './types.js'

const StandbyConfig = z
  .strictObject({ for: Duration.describe('How long the old pool stays the rollback target') })
  .describe('Keep the old pool running as the rollback target')

export const standbyPhase = definePhase({
  kind: 'standby',
  schema: StandbyConfig,
  touches: 'journal',
  rollbackOnFailure: false,
  describe(c, words) {
    return {
      target: 'journal',
      summary: `keep ${words.oldPool()} running as the rollback target for ${c.for}`,
      details: ['`bluegreen rollback` switches back to it; `bluegreen retire` gives it up early'],
      durationMs: parseDuration(c.for),
    }
  },
  standbyWindowMs: (c) => parseDuration(c.for),
  async run(ctx) {
    const { journal, plan, from } = ctx
    const windowMs = parseDuration(ctx.config.for)
    // Verified: the new pool is live, and the one it replaced is the known-good rollback target.
    await ctx.promote(windowMs)
    const previous = (await journal.pools(plan.app))[from]
    return `${from}${previous?.version ? ` (${previous.version})` : ''} stays the rollback target for ${formatDuration(windowMs)}`
  },
})
