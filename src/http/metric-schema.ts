/**
 * The verify phase's metric checks, as plan keys: `prometheus` (one query or a list) and
 * `cloudwatchAlarms` (with `cloudwatch` for region and endpoint). Spread `verifyMetricKeys` into
 * the verify phase's strictObject and add `checkVerifyMetrics` as its superRefine.
 *
 * Thresholds: each query takes `max`, `min` or both. At least one, because a query with no
 * bound can never fail; both, because some metrics have a band (requests per second should
 * neither explode nor drop to zero after a switch). Equal to a bound passes.
 */
import * as z from 'zod'
import { Duration } from '../format/parts.js'

export const PrometheusCheck = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .describe(
        'Base URL of the Prometheus server, e.g. http://prometheus:9090 (a path prefix is kept; user:password@ is sent as basic auth and never shown)',
      ),
    query: z
      .string()
      .min(1)
      .describe(
        'PromQL evaluated as an instant query at each verify interval; one number per series, e.g. sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))',
      ),
    max: z.number().optional().describe('A sample above this fails (equal passes)'),
    min: z.number().optional().describe('A sample below this fails (equal passes)'),
    for: Duration.default('0s').describe(
      'How long the value must stay beyond the threshold before its samples count as failed, like `for` in a Prometheus alerting rule; errors, empty results and NaN count at once',
    ),
    headers: z
      .record(z.string(), z.string())
      .optional()
      .describe('Extra request headers, e.g. Authorization for a managed Prometheus (redacted in output)'),
  })
  .refine((check) => check.max !== undefined || check.min !== undefined, {
    message: 'give max, min or both: a query without a bound can never fail',
  })
  .refine((check) => check.max === undefined || check.min === undefined || check.min <= check.max, {
    message: 'min must not be greater than max',
  })
  .describe('A Prometheus query whose value must stay within max and/or min while verify watches')
export type PrometheusCheck = z.infer<typeof PrometheusCheck>

/** The threshold in words, for messages and `describe()`: "at most 0.05", "between 10 and 200". */
export function describeThreshold(q: { min?: number; max?: number }): string {
  if (q.min !== undefined && q.max !== undefined) return `between ${q.min} and ${q.max}`
  if (q.max !== undefined) return `at most ${q.max}`
  if (q.min !== undefined) return `at least ${q.min}`
  return 'any value'
}

/** CloudWatch's own limits on an alarm name: 1 to 255 characters, no control characters. */
export const AlarmName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^\p{Cc}]+$/u, { message: 'an alarm name has no control characters' })
  .describe('A CloudWatch alarm name (metric or composite alarm)')

export const verifyMetricKeys = {
  prometheus: z
    .union([PrometheusCheck, z.array(PrometheusCheck).min(1)])
    .optional()
    .describe(
      'Prometheus queries checked at every interval; a sample beyond its threshold counts as a failed request',
    ),
  cloudwatchAlarms: z
    .array(AlarmName)
    .min(1)
    .max(100)
    .refine((names) => new Set(names).size === names.length, { message: 'an alarm is listed twice' })
    .optional()
    .describe(
      'CloudWatch alarms checked at every interval: any in state ALARM (or missing) counts as a failed request',
    ),
  cloudwatch: z
    .strictObject({
      region: z
        .string()
        .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { message: 'expected a region such as eu-west-1' })
        .optional()
        .describe('Region of the alarms (default: loadBalancer.region)'),
      endpoint: z
        .url()
        .optional()
        .describe('Endpoint override, e.g. the local emulator (default: loadBalancer.endpoint)'),
      profile: z
        .string()
        .optional()
        .describe('Named profile from the shared AWS config files (default: loadBalancer.profile)'),
    })
    .optional()
    .describe('Where cloudwatchAlarms live, when not in the load balancer’s region and account'),
}

export const VerifyMetrics = z.strictObject(verifyMetricKeys)
export type VerifyMetrics = z.infer<typeof VerifyMetrics>

/** Cross-key rules, for the verify phase's superRefine. */
export function checkVerifyMetrics(value: VerifyMetrics, ctx: z.RefinementCtx): void {
  if (value.cloudwatch && !value.cloudwatchAlarms) {
    ctx.addIssue({
      code: 'custom',
      path: ['cloudwatch'],
      message: 'cloudwatch only says where cloudwatchAlarms live; list the alarms in cloudwatchAlarms',
    })
  }
}

/** The prometheus key as a list, whichever way the plan wrote it. */
export function prometheusChecks(value: VerifyMetrics): PrometheusCheck[] {
  const p = value.prometheus
  return p === undefined ? [] : Array.isArray(p) ? p : [p]
}
