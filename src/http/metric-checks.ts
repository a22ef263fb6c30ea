/**
 * The verify phase's metric checks as one object: at each verify interval `sample()` evaluates
 * every Prometheus query and the CloudWatch alarms, and says whether the interval passed and,
 * when not, why (query, value, threshold; alarm and reason). The verify loop counts a failing
 * metric sample exactly like a failed request. Connections (an undici pool, one CloudWatch
 * client) live as long as the object: open it with `withMetricChecks`, which closes them.
 */
import type { Agent } from 'undici'
import { BluegreenError } from '../errors.js'
import { parseDuration } from '../format/duration.js'
import { newCloudWatchClient, sampleAlarms, type CloudWatchSend } from './cloudwatch-alarms.js'
import { prometheusChecks, type VerifyMetrics } from './metric-schema.js'
import { BreachClock, sampleMetric } from './prometheus.js'
import { loadUndici } from './undici.js'

export interface MetricSettings {
  metrics: VerifyMetrics
  /** Where alarms live when `cloudwatch` does not say: the plan's aws-elbv2 load balancer, if any. */
  defaults?: { region?: string; endpoint?: string; profile?: string }
  /** Per query or DescribeAlarms round. */
  timeoutMs: number
}

export interface MetricRound {
  ok: boolean
  /** One line per failing check, in plan order. */
  problems: string[]
  /** A problem that retrying cannot fix (a query that does not parse): fail verify at once. */
  permanent?: string
  /** Each query's value, for progress output: `query` → value. */
  values: { query: string; value?: number }[]
}

export interface MetricChecks {
  /** Whether the plan has any metric check at all. */
  readonly any: boolean
  sample(signal?: AbortSignal): Promise<MetricRound>
}

export async function withMetricChecks<T>(
  settings: MetricSettings,
  fn: (checks: MetricChecks) => Promise<T>,
): Promise<T> {
  const queries = prometheusChecks(settings.metrics).map((check) => ({
    check,
    clock: new BreachClock(parseDuration(check.for)),
  }))
  const alarms = settings.metrics.cloudwatchAlarms ?? []
  const where = { ...settings.defaults, ...settings.metrics.cloudwatch }
  if (alarms.length > 0 && !where.region) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: 'verify.cloudwatchAlarms needs a region',
      hint: 'set verify.cloudwatch.region (or use the aws-elbv2 load balancer, whose region it defaults to)',
    })
  }
  let dispatcher: Agent | undefined
  let cloudwatch: (CloudWatchSend & { destroy(): void }) | undefined
  if (queries.length > 0) {
    const { Agent } = await loadUndici()
    dispatcher = new Agent({ connect: { timeout: settings.timeoutMs } })
  }
  if (alarms.length > 0) {
    const sdk = await import('@aws-sdk/client-cloudwatch')
    cloudwatch = newCloudWatchClient(sdk, {
      region: where.region!,
      endpoint: where.endpoint,
      profile: where.profile,
    })
  }
  const checks: MetricChecks = {
    any: queries.length > 0 || alarms.length > 0,
    async sample(signal) {
      const round: MetricRound = { ok: true, problems: [], values: [] }
      // All checks at once: an interval waits for the slowest, not for their sum.
      const [samples, alarmSample] = await Promise.all([
        Promise.all(
          queries.map(({ check }) =>
            sampleMetric({ ...check, timeoutMs: settings.timeoutMs, signal, dispatcher }),
          ),
        ),
        alarms.length > 0
          ? sampleAlarms({
              names: alarms,
              region: where.region!,
              endpoint: where.endpoint,
              signal,
              client: cloudwatch,
            })
          : undefined,
      ])
      const now = Date.now()
      samples.forEach((s, i) => {
        const { check, clock } = queries[i]
        round.values.push({ query: check.query, value: s.value })
        if (s.permanent) round.permanent ??= s.problem
        if (clock.counts(s, now)) {
          round.ok = false
          round.problems.push(s.problem ?? `prometheus query \`${check.query}\` failed`)
        }
      })
      if (alarmSample && !alarmSample.ok) {
        round.ok = false
        round.problems.push(alarmSample.problem ?? 'CloudWatch alarms failed')
      }
      return round
    },
  }
  try {
    return await fn(checks)
  } finally {
    cloudwatch?.destroy()
    await dispatcher?.close()
  }
}
