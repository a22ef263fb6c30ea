import { resolve } from 'node:path'
import * as z from 'zod'
import { BluegreenError } from '../errors.js'
import { parseDuration } from '../format/duration.js'
import { parseHostPort } from '../format/host-port.js'
import { Check, Duration, TlsOptions } from '../format/parts.js'
import { loadUndici } from '../http/undici.js'
import { definePhase, type PhaseRunContext } from './types.js'
import { describeExpect } from './words.js'

const SmokeConfig = z
  .strictObject({
    host: z.string().min(1).describe('Production host name: sent as Host header and TLS SNI'),
    scheme: z.enum(['http', 'https']).default('http'),
    port: z
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('Port on each target (default: the target’s own port)'),
    ...TlsOptions,
    concurrency: z.int().min(1).default(8),
    deadline: Duration.default('60s').describe('How long a failing check is retried'),
    checks: z.array(Check).min(1),
  })
  .describe('Check every target of the inactive pool through a host override')

export const smokePhase = definePhase({
  kind: 'smoke',
  schema: SmokeConfig,
  touches: 'pool',
  rollbackOnFailure: true,
  paths: ['caFile'],
  describe(c, words) {
    const checks = c.checks.map((check) => {
      const name = check.name ? `${check.name}: ` : ''
      return `${name}${check.method} ${words.fill(check.path)} → ${describeExpect(check.expect, words.fill)}`
    })
    const what = checks.length === 1 ? checks[0] : `${checks.length} checks`
    const connection = [
      `${c.scheme}${c.port ? ` on port ${c.port}` : ''}`,
      `up to ${c.concurrency} at a time`,
      ...(c.caFile ? [`CA ${words.path(c.caFile)}`] : []),
      ...(c.insecure ? ['certificates NOT verified'] : []),
    ].join(', ')
    return {
      target: words.poolTarget(),
      summary: `${what} on every target, Host ${words.fill(c.host)}, retry up to ${c.deadline}`,
      details: [...(checks.length > 1 ? checks : []), connection],
      durationMs: parseDuration(c.deadline),
    }
  },
  warmUp: () => Promise.all([import('../http/checks.js'), loadUndici()]),
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
})

/** The addresses to test: the plan's `addresses` when given, else what the load balancer reports. */
async function smokeTargets(ctx: PhaseRunContext): Promise<{ id: string; address: string; port: number }[]> {
  const pool = ctx.plan.pools[ctx.to]
  if (pool.addresses?.length) return pool.addresses.map((a) => ({ id: a, ...parseHostPort(a) }))
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
