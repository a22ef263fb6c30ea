import { BluegreenError } from '../errors.js'
import { parseDuration } from '../plan/duration.js'
import { describeTarget } from '../lb/pool-health.js'
import { failpoint } from '../engine/failpoint.js'
import { sleep } from '../engine/sleep.js'
import type { Phase } from './types.js'

export const switchPhase = {
  kind: 'switch',
  rollbackOnFailure: true,
  replacesPool: true,
  async run(ctx) {
    const { config, lb, to, from } = ctx
    const interval = parseDuration(config.interval)
    const before = await lb.traffic()
    // Resuming after a crash: steps already reached are not made again.
    const remaining = config.steps.filter((weight) => weight > before.weights[to])
    if (remaining.length === 0) {
      ctx.emit({ type: 'switch', from, to, weights: before.weights, changed: false })
      return `${to} already gets 100% of traffic; nothing to switch`
    }
    for (const [i, weight] of remaining.entries()) {
      // A forward switch keeps group stickiness as configured: sticky clients stay on the old
      // pool until their cookie expires (the adapter's notes say for how long).
      const result = await lb.shift(to, weight, { stickyClients: 'stay' })
      ctx.emit({ type: 'switch', from, to, weights: result.after.weights, changed: result.changed })
      for (const note of result.notes ?? []) ctx.emit({ type: 'info', message: note })
      failpoint(`switch:${weight}`)
      ctx.progress(`${to} ${weight}% / ${from} ${100 - weight}%`, { done: weight, total: 100 })
      if (i < remaining.length - 1 && interval > 0) {
        await sleep(interval, ctx.signal)
        const targets = await lb.targets(to)
        const sick = targets.filter((t) => t.health !== 'healthy')
        if (targets.length === 0 || sick.length > 0) {
          throw new BluegreenError({
            code: 'SWITCH_FAILED',
            message: `pool ${to} became unhealthy at ${weight}% of traffic`,
            details: sick.map(describeTarget),
            hint: 'traffic goes back to the old pool automatically; look at the new version before releasing again',
          })
        }
      }
    }
    return `switched to ${to} (${remaining.join('% → ')}%)`
  },
} satisfies Phase<'switch'>
