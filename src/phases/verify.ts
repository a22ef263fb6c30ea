import { resolve } from 'node:path'
import * as z from 'zod'
import { BluegreenError } from '../errors.js'
import { formatDuration, parseDuration } from '../format/duration.js'
import { Duration, Expect, TlsOptions, type PlanBase } from '../format/parts.js'
import type { MetricSettings } from '../http/metric-checks.js'
import { loadUndici } from '../http/undici.js'
import {
  checkVerifyMetrics,
  describeThreshold,
  prometheusChecks,
  verifyMetricKeys,
} from '../http/metric-schema.js'
import { redact } from '../redact.js'
import { definePhase } from './types.js'
import { describeExpect } from './words.js'

const VerifyConfig = z
  .strictObject({
    url: z.url().describe('The production URL'),
    for: Duration.describe('Bake time'),
    interval: Duration.default('2s'),
    resolve: z
      .string()
      .regex(/^[^\s:]+:\d+$/, { message: 'expected host:port' })
      .optional()
      .describe('Connect here instead of resolving the URL’s host (like curl --resolve)'),
    ...TlsOptions,
    expect: Expect.default({}),
    versionMarker: z
      .string()
      .optional()
      .describe('Text that proves the new version answered, e.g. "{{version}}"'),
    versionSeen: z.int().min(1).default(3).describe('Consecutive answers carrying the marker needed to pass'),
    maxErrorRatio: z.number().min(0).max(1).default(0.05),
    failAfter: z.int().min(1).default(3).describe('Consecutive failures that fail the phase at once'),
    timeout: Duration.default('5s').describe('Per request (and per metric query)'),
    ...verifyMetricKeys,
  })
  .superRefine(checkVerifyMetrics)
  .describe('Watch production for a bake time; a failure switches back automatically')
type VerifyConfig = z.output<typeof VerifyConfig>

export const verifyPhase = definePhase({
  kind: 'verify',
  schema: VerifyConfig,
  touches: 'load balancer',
  rollbackOnFailure: true,
  paths: ['caFile'],
  describe(c, words) {
    const marker = c.versionMarker ? words.fill(c.versionMarker) : undefined
    return {
      target: 'load balancer',
      summary: `watch ${words.fill(c.url)} for ${c.for}, every ${c.interval}; on failure switch back to the old pool`,
      details: [
        `expect ${describeExpect(c.expect, words.fill)}`,
        `fails at more than ${Math.round(c.maxErrorRatio * 100)}% errors or ${c.failAfter} failures in a row`,
        ...(marker ? [`"${marker}" must answer ${c.versionSeen} times in a row`] : []),
        ...(c.resolve ? [`connects to ${c.resolve} (like curl --resolve)`] : []),
        ...(c.caFile ? [`CA ${words.path(c.caFile)}`] : []),
        ...(c.insecure ? ['certificates NOT verified'] : []),
        ...describeMetrics(c, words.plan, words.fill),
      ],
      durationMs: parseDuration(c.for),
    }
  },
  /**
   * A rollback proves production answers from the pool it switched to: with the pool's version
   * known, its marker; otherwise passing answers. Either way it stops as soon as the streak is
   * seen, not after the whole bake time.
   */
  async confirmRollback(c, ctx) {
    const config = { ...c, versionMarker: ctx.version ? c.versionMarker : undefined }
    const report = await verifyWith(
      config,
      ctx.planDir,
      { app: ctx.plan.app, version: ctx.version ?? '', pool: ctx.to },
      ctx.signal,
      true,
      () => {},
    )
    if (!report.ok) {
      throw new BluegreenError({
        code: 'ROLLBACK_FAILED',
        message: `switched to ${ctx.to}, but production does not answer from it: ${report.reason ?? 'verification failed'}`,
        hint: `check ${ctx.to}'s targets and the production URL ${c.url}`,
      })
    }
  },
  warmUp: () => Promise.all([import('../http/verify.js'), loadUndici()]),
  async run(ctx) {
    const report = await verifyWith(
      ctx.config,
      ctx.planDir,
      ctx.vars,
      ctx.signal,
      false,
      (message) => ctx.progress(message),
      metricSettings(ctx.config, ctx.plan),
    )
    for (const warning of report.warnings) ctx.emit({ type: 'warning', message: warning })
    if (!report.ok) {
      const { verifyFailure } = await import('../http/verify.js')
      throw verifyFailure(report, ctx.config.url)
    }
    return `production healthy for ${formatDuration(parseDuration(ctx.config.for))}: ${report.samples} samples, ${report.errors} errors`
  },
})

async function verifyWith(
  config: VerifyConfig,
  planDir: string,
  vars: Record<string, string>,
  signal: AbortSignal,
  untilVersionSeen: boolean,
  progress: (message: string) => void,
  metrics?: MetricSettings,
) {
  const { verifyProduction } = await import('../http/verify.js')
  let samples = 0
  return verifyProduction({
    url: config.url,
    forMs: parseDuration(config.for),
    intervalMs: parseDuration(config.interval),
    resolve: config.resolve,
    caFile: config.caFile && resolve(planDir, config.caFile),
    insecure: config.insecure,
    expect: config.expect,
    versionMarker: config.versionMarker,
    versionSeen: config.versionSeen,
    maxErrorRatio: config.maxErrorRatio,
    failAfter: config.failAfter,
    timeoutMs: parseDuration(config.timeout),
    vars,
    signal,
    untilVersionSeen,
    metrics,
    onSample: (sample) => {
      samples++
      if (samples % 5 === 1) progress(`${samples} samples${metricValues(sample.metrics)}`)
    },
  })
}

/**
 * The metric checks of a verify, if it has any. Alarms default to the region, endpoint and
 * profile of an aws-elbv2 load balancer: the alarms of an ALB usually live beside it. Its
 * endpoint (the local emulator, which answers CloudWatch too) is not taken for alarms in another
 * region: it serves the load balancer's region.
 */
function metricSettings(c: VerifyConfig, plan: PlanBase): MetricSettings | undefined {
  if (prometheusChecks(c).length === 0 && !c.cloudwatchAlarms) return undefined
  const lb = plan.loadBalancer as { provider: string; region?: string; endpoint?: string; profile?: string }
  return {
    metrics: { prometheus: c.prometheus, cloudwatchAlarms: c.cloudwatchAlarms, cloudwatch: c.cloudwatch },
    defaults:
      lb.provider === 'aws-elbv2'
        ? {
            region: lb.region,
            endpoint: !c.cloudwatch?.region || c.cloudwatch.region === lb.region ? lb.endpoint : undefined,
            profile: lb.profile,
          }
        : undefined,
    timeoutMs: parseDuration(c.timeout),
  }
}

/** ", error rate 0.012" for progress lines. */
function metricValues(values: { query: string; value?: number }[] | undefined): string {
  if (!values?.length) return ''
  return values
    .map((v) => `, \`${v.query}\` = ${v.value === undefined ? '?' : +v.value.toPrecision(4)}`)
    .join('')
}

/** What `plan show` and --dry-run say of the metric checks. */
function describeMetrics(c: VerifyConfig, plan: PlanBase, fill: (text: string) => string): string[] {
  const queries = prometheusChecks(c).map((q) => {
    const lasting = parseDuration(q.for) > 0 ? ` lasting ${q.for}` : ''
    return `prometheus ${redact(q.url)}: \`${fill(q.query)}\` must stay ${describeThreshold(q)} (a breach${lasting} counts as a failed sample)`
  })
  const alarms = c.cloudwatchAlarms
  if (!alarms) return queries
  const where = metricSettings(c, plan)
  const at = { ...where?.defaults, ...c.cloudwatch }
  const place = [at.region ?? 'region not set', ...(at.endpoint ? [`endpoint ${at.endpoint}`] : [])].join(
    ', ',
  )
  return [...queries, `CloudWatch alarms (${place}) must not be in ALARM: ${alarms.join(', ')}`]
}
