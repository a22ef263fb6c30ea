import { formatDuration, parseDuration } from '../plan/duration.js'
import type { Phase } from './types.js'

export const standbyPhase = {
  kind: 'standby',
  rollbackOnFailure: false,
  async run(ctx) {
    const { journal, plan, from } = ctx
    const windowMs = parseDuration(ctx.config.for)
    const previous = (await journal.pools(plan.app))[from]
    await journal.setStandby(plan.app, {
      pool: from,
      version: previous?.version,
      releaseSeq: previous?.releaseSeq ?? 0,
      until: new Date(Date.now() + windowMs).toISOString(),
    })
    return `${from}${previous ? ` (${previous.version})` : ''} stays the rollback target for ${formatDuration(windowMs)}`
  },
} satisfies Phase<'standby'>
