/**
 * One sample of a Prometheus metric for verify: an instant query through the HTTP API
 * (`GET /api/v1/query?query=…&time=…`), its value compared with a threshold. Anything that does
 * not prove the metric within bounds is a failing sample, with a message naming the query, the
 * value and the threshold: an error answer (`status: "error"`, errorType/error), an empty
 * vector (nothing matched, so nothing was measured), a NaN (0/0: a ratio with no traffic), a
 * range vector or a string, and no answer at all. Signal interruption is rethrown.
 *
 * The answer format (prometheus.io/docs/prometheus/latest/querying/api/):
 *   {"status":"success","data":{"resultType":"vector","result":[{"metric":{…},"value":[<unix>,"<v>"]}]}}
 *   {"status":"success","data":{"resultType":"scalar","result":[<unix>,"<v>"]}}
 *   {"status":"error","errorType":"bad_data","error":"1:5: parse error: …"}  (HTTP 400, 422 or 503)
 * Sample values are strings so that NaN, +Inf and -Inf survive JSON.
 */
import type { Dispatcher } from 'undici'
import { redact } from '../redact.js'
import { describeThreshold } from './metric-schema.js'
import { excerpt } from './expect.js'
import { NoAnswer, send } from './request.js'
import { loadUndici } from './undici.js'

export { describeThreshold }

export interface MetricQuery {
  /** Base URL of the Prometheus server (or of an API-compatible one, path prefix kept), e.g. http://prometheus:9090. */
  url: string
  /** PromQL; its result must be one number per series (an instant vector or a scalar). */
  query: string
  /** A sample above this fails. */
  max?: number
  /** A sample below this fails. */
  min?: number
  /** Extra request headers (an Authorization for a managed Prometheus). */
  headers?: Record<string, string>
}

export interface SampleOptions extends MetricQuery {
  /** Per request. */
  timeoutMs: number
  signal?: AbortSignal
  /** Evaluation time (default: now). */
  time?: Date
  /** Reuse one connection pool across samples; without it, one is made and closed per sample. */
  dispatcher?: Dispatcher
}

export interface MetricSample {
  ok: boolean
  /** The value compared (for several series: the one furthest beyond the threshold, or the first). */
  value?: number
  /** The series the value belongs to, e.g. {instance="a:80"}; absent for a scalar. */
  series?: string
  /** Why the sample failed: query, value and threshold in one line. */
  problem?: string
  /**
   * Retrying cannot help: the query does not parse or returns the wrong type. A caller may stop
   * at once (best before the switch, on a first sample).
   */
  permanent?: boolean
}

export async function sampleMetric(options: SampleOptions): Promise<MetricSample> {
  const subject = `prometheus query \`${options.query}\``
  const fail = (problem: string, extra: Partial<MetricSample> = {}): MetricSample => ({
    ok: false,
    ...extra,
    problem: redact(`${subject}: ${problem}`),
  })
  const { href, authorization, shown } = queryUrl(options)
  const { Agent } = await loadUndici()
  const dispatcher = options.dispatcher ?? new Agent({ connect: { timeout: options.timeoutMs } })
  let status: number
  let body: string
  try {
    const answer = await send(dispatcher, {
      url: href,
      method: 'GET',
      headers: {
        accept: 'application/json',
        ...(authorization ? { authorization } : {}),
        ...options.headers,
      },
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    })
    status = answer.status
    body = answer.body
  } catch (error) {
    if (error instanceof NoAnswer) return fail(`${shown} did not answer: ${error.problem}`)
    throw error
  } finally {
    if (!options.dispatcher) await dispatcher.close()
  }

  const parsed = parseAnswer(body)
  if (!parsed) {
    return fail(
      `${shown} answered HTTP ${status} without a Prometheus API body: ${JSON.stringify(excerpt(body, 120))}`,
    )
  }
  if (parsed.status !== 'success') {
    const kind = typeof parsed.errorType === 'string' ? parsed.errorType : 'error'
    const text = typeof parsed.error === 'string' ? parsed.error : 'no message'
    // bad_data is a query Prometheus cannot parse or evaluate as asked: it will not get better.
    return fail(`${kind}: ${text} (HTTP ${status})`, { permanent: kind === 'bad_data' })
  }
  const series = seriesOf(parsed.data)
  if (typeof series === 'string') return fail(series, { permanent: true })
  if (series.length === 0) {
    return fail(
      `returned no series (an empty vector): nothing matched, so nothing was measured; check the metric name and labels, or append \`or vector(0)\` if no data means healthy`,
    )
  }
  const threshold = describeThreshold(options)
  for (const s of series) {
    if (Number.isNaN(s.value))
      return fail(
        `value NaN${s.labels ? ` for ${s.labels}` : ''} (no data to divide?); expected ${threshold}`,
        {
          value: s.value,
          series: s.labels,
        },
      )
  }
  // Several series: judge the worst, so the message names the series that failed.
  const worst = series.reduce((a, b) => (distance(b.value, options) > distance(a.value, options) ? b : a))
  if (distance(worst.value, options) > 0) {
    const side =
      options.max !== undefined && worst.value > options.max ? 'above the maximum' : 'below the minimum'
    const bound = side === 'above the maximum' ? options.max : options.min
    return fail(
      `value ${formatValue(worst.value)}${worst.labels ? ` for ${worst.labels}` : ''} is ${side} ${bound} (expected ${threshold})`,
      { value: worst.value, series: worst.labels },
    )
  }
  return { ok: true, value: worst.value, series: worst.labels }
}

/** How far beyond the threshold a value is (0 within it). */
function distance(value: number, q: Pick<MetricQuery, 'min' | 'max'>): number {
  if (q.max !== undefined && value > q.max) return value - q.max
  if (q.min !== undefined && value < q.min) return q.min - value
  return 0
}

function formatValue(value: number): string {
  return Number.isFinite(value) ? String(+value.toPrecision(6)) : value > 0 ? '+Inf' : '-Inf'
}

/**
 * The query URL, with any user:password moved out of it into a basic Authorization header
 * (undici will not send URL credentials), and the URL as messages may show it.
 */
function queryUrl(options: SampleOptions): { href: string; authorization?: string; shown: string } {
  const url = new URL(options.url)
  let authorization: string | undefined
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username)
    const password = decodeURIComponent(url.password)
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
    url.username = ''
    url.password = ''
  }
  url.hash = ''
  const base = new URL(url.href)
  base.search = ''
  const shown = `prometheus at ${redact(base.href.replace(/\/$/, ''))}`
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/query`
  url.searchParams.set('query', options.query)
  url.searchParams.set('time', ((options.time ?? new Date()).getTime() / 1000).toFixed(3))
  return { href: url.href, authorization, shown }
}

interface ApiAnswer {
  status?: unknown
  data?: unknown
  errorType?: unknown
  error?: unknown
}

function parseAnswer(body: string): ApiAnswer | undefined {
  try {
    const value = JSON.parse(body) as unknown
    if (value && typeof value === 'object' && 'status' in value) return value
  } catch {
    // Not JSON: a proxy's error page, say.
  }
  return undefined
}

interface Series {
  labels?: string
  value: number
}

/** The samples of a success answer, or a sentence saying why it holds none that can be judged. */
function seriesOf(data: unknown): Series[] | string {
  const { resultType, result } = (data ?? {}) as { resultType?: unknown; result?: unknown }
  if (resultType === 'scalar' && Array.isArray(result)) return [{ value: sampleValue(result[1]) }]
  if (resultType === 'vector' && Array.isArray(result)) {
    return result.map((item) => {
      const { metric, value } = (item ?? {}) as { metric?: Record<string, string>; value?: unknown[] }
      return { labels: labelsOf(metric), value: sampleValue(value?.[1]) }
    })
  }
  if (resultType === 'matrix')
    return 'returns a range vector (matrix); write an expression with one value per series, e.g. rate(x[5m]) instead of x[5m]'
  if (resultType === 'string') return 'returns a string, not a number'
  return `answered an unknown result type ${JSON.stringify(resultType)}`
}

/** Prometheus writes sample values as strings: "0.25", "NaN", "+Inf", "-Inf". */
function sampleValue(raw: unknown): number {
  if (raw === '+Inf' || raw === 'Inf') return Infinity
  if (raw === '-Inf') return -Infinity
  if (typeof raw === 'string' && raw.trim() !== '') return Number(raw)
  if (typeof raw === 'number') return raw
  return NaN
}

function labelsOf(metric: Record<string, string> | undefined): string | undefined {
  if (!metric) return undefined
  const entries = Object.entries(metric)
  if (entries.length === 0) return undefined
  return `{${entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`
}

/**
 * `for` in a metric check: like `for` in a Prometheus alerting rule, a threshold breach counts
 * only once it has lasted this long; a sample back within bounds resets it. Unanswered queries,
 * errors, empty results and NaN are no evidence of health and count at once.
 */
export class BreachClock {
  private since?: number

  constructor(private readonly forMs: number) {}

  /** Whether `sample`, taken at `nowMs`, counts as a failed sample. */
  counts(sample: MetricSample, nowMs: number): boolean {
    if (sample.ok) {
      this.since = undefined
      return false
    }
    const breach = sample.value !== undefined && !Number.isNaN(sample.value)
    if (!breach || this.forMs <= 0) return true
    this.since ??= nowMs
    return nowMs - this.since >= this.forMs
  }
}
