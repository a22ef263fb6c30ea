import { formatDuration, parseDuration } from '../plan/duration.js'
import { runPlanCommand } from './command-env.js'
import type { Phase } from './types.js'

export const deployPhase = {
  kind: 'deploy',
  rollbackOnFailure: true,
  replacesPool: true,
  async run(ctx) {
    const { config, lb, to } = ctx
    const ms = await runPlanCommand(ctx, config, `deploy of ${ctx.release.version} to ${to}`, {
      fail: 'DEPLOY_FAILED',
      timeout: 'DEPLOY_TIMEOUT',
    })
    ctx.progress(`deployed in ${formatDuration(ms)}; waiting for ${to} to be healthy in the load balancer`)
    const healthStarted = Date.now()
    const targets = await lb.waitHealthy(to, {
      timeoutMs: parseDuration(config.healthTimeout),
      intervalMs: 500,
      signal: ctx.signal,
      onPoll: (ts) =>
        ctx.progress(`${ts.filter((t) => t.health === 'healthy').length}/${ts.length} targets healthy`),
    })
    return `deployed ${ctx.release.version} to ${to} in ${formatDuration(ms)}; ${targets.length} targets healthy after ${formatDuration(Date.now() - healthStarted)}`
  },
} satisfies Phase<'deploy'>
