import { resolve } from 'node:path'
import { BluegreenError } from '../errors.js'
import { parseDuration } from '../plan/duration.js'
import type { Phase, PhaseRunContext } from './types.js'

export const smokePhase = {
  kind: 'smoke',
  rollbackOnFailure: true,
  async run(ctx) {
    const { config, to } = ctx
    const { runSmoke, smokeFailure } = await import('../http/checks.js')
    const targets = await smokeTargets(ctx)
    const report = await runSmoke({
      targets,
      host: config.host,
      scheme: config.scheme,
      port: config.port,
      caFile: config.caFile && resolve(ctx.planDir, config.caFile),
      insecure: config.insecure,
      concurrency: config.concurrency,
      deadlineMs: parseDuration(config.deadline),
      checks: config.checks,
      vars: { ...ctx.vars, host: config.host },
      signal: ctx.signal,
      onEvent: (event) => {
        if (event.type === 'attempt')
          ctx.progress(
            `${event.target} ${event.check}: ${event.problem}; retry ${event.attempt + 1} in ${event.retryInMs} ms`,
          )
        else if (event.type === 'warning') ctx.emit({ type: 'warning', message: event.message })
      },
    })
    if (!report.ok) throw smokeFailure(report)
    return `${config.checks.length} checks passed on ${targets.length} targets of ${to} (Host ${config.host})`
  },
} satisfies Phase<'smoke'>

/** The addresses to test: the plan's `addresses` when given, else what the load balancer reports. */
async function smokeTargets(
  ctx: PhaseRunContext<'smoke'>,
): Promise<{ id: string; address: string; port: number }[]> {
  const pool = ctx.plan.pools[ctx.to]
  if (pool.addresses?.length) {
    return pool.addresses.map((a) => {
      const [address, port] = a.split(':') as [string, string]
      return { id: a, address, port: Number(port) }
    })
  }
  const targets = await ctx.lb.targets(ctx.to)
  if (targets.length === 0) {
    throw new BluegreenError({
      code: 'SMOKE_FAILED',
      message: `pool ${ctx.to} has no targets to smoke-test`,
      hint: `register the pool's targets with the load balancer, or list them under pools.${ctx.to}.addresses`,
    })
  }
  return targets.map((t) => ({ id: t.id, address: t.address, port: t.port }))
}
