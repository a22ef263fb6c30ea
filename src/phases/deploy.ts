import * as z from 'zod'
import { formatDuration, parseDuration } from '../format/duration.js'
import { Command, Duration } from '../format/parts.js'
import { commandIssues, runPlanCommand } from './command-env.js'
import { definePhase } from './types.js'
import { envDetails } from './words.js'

const DeployConfig = z
  .strictObject({
    run: Command,
    shell: z.boolean().default(false),
    env: z.record(z.string(), z.string()).optional(),
    timeout: Duration.default('15m'),
    healthTimeout: Duration.default('5m').describe(
      'How long to wait for the pool to be healthy after deploying',
    ),
  })
  .describe('Deploy the new version to the inactive pool, then wait until it is healthy')

export const deployPhase = definePhase({
  kind: 'deploy',
  schema: DeployConfig,
  touches: 'pool',
  rollbackOnFailure: true,
  replacesPool: true,
  describe(c, words) {
    return {
      target: words.poolTarget(),
      summary:
        `run ${words.command(c.run, c.shell)} (timeout ${c.timeout}), ` +
        `then wait up to ${c.healthTimeout} for the pool to be healthy`,
      details: envDetails(c.env),
      durationMs: parseDuration(c.timeout) + parseDuration(c.healthTimeout),
    }
  },
  validate: commandIssues,
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
})
