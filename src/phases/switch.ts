import * as z from 'zod'
import { BluegreenError } from '../errors.js'
import { failpoint } from '../failpoint.js'
import { parseDuration } from '../format/duration.js'
import { Duration } from '../format/parts.js'
import { describeTarget } from '../lb/pool-health.js'
import { poolHealth } from '../lb/types.js'
import { sleep } from '../sleep.js'
import { definePhase } from './types.js'

const SwitchConfig = z
  .strictObject({
    steps: z
      .array(z.int().min(1).max(100))
      .min(1)
      .default([100])
      .refine((steps) => steps.every((s, i) => i === 0 || s > steps[i - 1]), {
        message: 'steps must increase',
      })
      .describe(
        'Percentages of traffic sent to the new pool; the last switch of the plan ends at 100 (an earlier one may stop short, e.g. before an approve step)',
      ),
    interval: Duration.default('0s').describe('Pause between steps (health is checked after each)'),
  })
  .describe('Point the load balancer at the new pool')

export const switchPhase = definePhase({
  kind: 'switch',
  schema: SwitchConfig,
  touches: 'load balancer',
  rollbackOnFailure: true,
  replacesPool: true,
  movesTraffic: true,
  describe(c, words) {
    const to = words.newPool()
    const intervalMs = parseDuration(c.interval)
    const summary =
      c.steps.length === 1
        ? `send all traffic to ${to} at once`
        : `shift traffic to ${to}: ${c.steps.map((s) => `${s}%`).join(' → ')}` +
          (intervalMs > 0 ? `, ${c.interval} apart` : '')
    return {
      target: 'load balancer',
      summary,
      details: [words.loadBalancerLine(), 'the pool must stay healthy after each step'],
      durationMs: intervalMs * (c.steps.length - 1),
    }
  },
  validate(c, at) {
    // A switch may stop short (10%, then an approve gate, then the rest); the plan's last one
    // must send all traffic, or no release would ever finish on the new pool.
    const lastSwitch = at.plan.phases.findLastIndex((entry) => 'switch' in entry)
    if (at.path[1] !== lastSwitch || c.steps.at(-1) === 100) return []
    return [
      {
        path: [...at.path, 'steps', c.steps.length - 1],
        at: 'value',
        message: "the last step of the plan's last switch must be 100",
        hint: 'end the steps with 100, or add a later switch that does (e.g. after an approve step)',
      },
    ]
  },
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
        const { healthy, sick } = poolHealth(targets)
        if (!healthy) {
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
})
