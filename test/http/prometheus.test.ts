/**
 * sampleMetric against a real Prometheus scraping a real app whose error rate the test sets:
 * the error-rate query passes while errors stay low and fails once the test raises them; an
 * API error, an empty result and a NaN are failing samples; messages name the query, the value
 * and the threshold, and never a URL's password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BreachClock, describeThreshold, sampleMetric, type MetricSample } from '../../src/http/prometheus.js'
import { waitFor } from '../support/process.js'
import {
  errorRateQuery,
  havePrometheus,
  startScrapedApp,
  type MetricsApp,
  type TestPrometheus,
} from './prometheus-support.js'

const errorRate = errorRateQuery

describe.runIf(havePrometheus())('sampleMetric against a real Prometheus', () => {
  let app: MetricsApp
  let prometheus: TestPrometheus

  beforeAll(async () => {
    ;({ app, prometheus } = await startScrapedApp())
  }, 60_000)
  afterAll(async () => {
    await prometheus?.stop()
    await app?.close()
  })

  const sample = (query: string, bounds: { max?: number; min?: number }, url = prometheus.url) =>
    sampleMetric({ url, query, ...bounds, timeoutMs: 2000 })

  it('passes while the error rate stays low, and fails once the app’s errors rise', async () => {
    // Given: 1% errors; every sample for 3 s is within max 5%
    const low: MetricSample[] = []
    for (let i = 0; i < 4; i++) {
      low.push(await sample(errorRate, { max: 0.05 }))
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    for (const s of low) {
      expect(s.ok, s.problem).toBe(true)
      expect(s.value).toBeGreaterThan(0.005)
      expect(s.value).toBeLessThan(0.02)
    }

    // When
    app.setErrorRatio(0.5)
    // Then: within a few scrapes the rate window holds the new errors
    let failed: MetricSample | undefined
    await waitFor(
      async () => {
        const s = await sample(errorRate, { max: 0.05 })
        if (!s.ok) failed = s
        return !s.ok
      },
      20_000,
      'the error-rate sample to fail',
    )
    expect(failed!.value).toBeGreaterThan(0.05)
    expect(failed!.permanent).toBeUndefined()
    expect(failed!.problem).toMatch(
      new RegExp(
        `^prometheus query \`${escape(errorRate)}\`: value 0\\.\\d+ is above the maximum 0\\.05 \\(expected at most 0\\.05\\)$`,
      ),
    )

    // When: errors drop again, the sample passes again once the window has moved on
    app.setErrorRatio(0)
    await waitFor(
      async () => (await sample(errorRate, { max: 0.05 })).ok,
      20_000,
      'the error rate to recover',
    )
    app.setErrorRatio(0.01)
  }, 60_000)

  it('judges every series of a vector and names the one beyond the threshold', async () => {
    // rate by code: ~50/s of 200s, well below 1/s of 500s
    const s = await sample('sum by (code) (rate(app_requests_total[5s]))', { max: 40 })
    expect(s.ok).toBe(false)
    expect(s.series).toBe('{code="200"}')
    expect(s.problem).toMatch(/value \d+(\.\d+)? for \{code="200"\} is above the maximum 40/)
    const within = await sample('sum by (code) (rate(app_requests_total[5s]))', { max: 1000, min: 0 })
    expect(within.ok, within.problem).toBe(true)
  })

  it('fails a value below min, and passes one inside a band', async () => {
    const throughput = 'sum(rate(app_requests_total[5s]))'
    const below = await sample(throughput, { min: 100 })
    expect(below.ok).toBe(false)
    expect(below.problem).toMatch(/: value \d+(\.\d+)? is below the minimum 100 \(expected at least 100\)$/)
    const band = await sample(throughput, { min: 10, max: 200 })
    expect(band.ok, band.problem).toBe(true)
    expect(band.value).toBeGreaterThan(30)
  })

  it('counts an API error as a failing sample, permanent for a query that does not parse', async () => {
    const s = await sample('sum(rate(app_requests_total[5s]', { max: 1 })
    expect(s.ok).toBe(false)
    expect(s.permanent).toBe(true)
    expect(s.problem).toMatch(
      /^prometheus query `sum\(rate\(app_requests_total\[5s\]`: bad_data: .*parse error.* \(HTTP 400\)$/,
    )
  })

  it('counts an empty result as a failing sample: nothing measured is no proof of health', async () => {
    const s = await sample('sum(rate(app_requests_total{code="503"}[5s]))', { max: 0.05 })
    expect(s.ok).toBe(false)
    expect(s.value).toBeUndefined()
    expect(s.problem).toContain('returned no series (an empty vector)')
    // The documented way out, for a plan that means "no data is fine":
    const s2 = await sample('sum(rate(app_requests_total{code="503"}[5s])) or vector(0)', { max: 0.05 })
    expect(s2).toMatchObject({ ok: true, value: 0 })
  })

  it('counts NaN (a scalar 0/0) as a failing sample', async () => {
    const s = await sample('0/0', { max: 1 })
    expect(s.ok).toBe(false)
    expect(Number.isNaN(s.value)).toBe(true)
    expect(s.problem).toBe('prometheus query `0/0`: value NaN (no data to divide?); expected at most 1')
    const scalar = await sample('scalar(vector(3))', { max: 5 })
    expect(scalar).toEqual({ ok: true, value: 3, series: undefined })
  })

  it('refuses a range vector as the wrong type, permanently', async () => {
    const s = await sample('app_requests_total[5s]', { max: 1 })
    expect(s).toMatchObject({ ok: false, permanent: true })
    expect(s.problem).toContain('returns a range vector (matrix)')
  })

  it('never shows the password of a URL, and still sends it (as basic auth)', async () => {
    const withPassword = prometheus.url.replace('http://', 'http://ops:s3cret-Pa55@')
    const failing = await sample('0/0', { max: 1 }, withPassword)
    expect(failing.ok).toBe(false)
    const nowhere = await sample(errorRate, { max: 1 }, 'http://ops:s3cret-Pa55@127.0.0.1:1')
    expect(nowhere.problem).toMatch(
      /^prometheus query `.*`: prometheus at http:\/\/127\.0\.0\.1:1 did not answer: connection refused$/,
    )
    for (const s of [failing, nowhere]) expect(s.problem).not.toContain('s3cret-Pa55')
    const passing = await sample('scalar(vector(1))', { max: 1 }, withPassword)
    expect(passing.ok, passing.problem).toBe(true)
    // The app records what it was sent: the credentials, as basic auth, not in the URL.
    const toApp = await sample('up', { max: 1 }, app.url.replace('http://', 'http://ops:s3cret-Pa55@'))
    expect(toApp.problem).not.toContain('s3cret-Pa55')
    expect(app.lastAuthorization()).toBe(`Basic ${Buffer.from('ops:s3cret-Pa55').toString('base64')}`)
  })

  it('says so when the URL is not a Prometheus, and when it does not answer in time', async () => {
    const notPrometheus = await sample(errorRate, { max: 1 }, app.url)
    expect(notPrometheus.problem).toBe(
      `prometheus query \`${errorRate}\`: prometheus at ${app.url} answered HTTP 404 without a Prometheus API body: "<html><body><h1>404 Not Found</h1></body></html>"`,
    )
    const slow = await sampleMetric({ url: `${app.url}/hang`, query: 'up', max: 1, timeoutMs: 300 })
    expect(slow.problem).toBe(
      `prometheus query \`up\`: prometheus at ${app.url}/hang did not answer: no answer within 300ms`,
    )
  })

  it('rethrows the signal’s reason when verify is interrupted', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('interrupted by test')), 100)
    await expect(
      sampleMetric({
        url: `${app.url}/hang`,
        query: 'up',
        max: 1,
        timeoutMs: 5000,
        signal: controller.signal,
      }),
    ).rejects.toThrow('interrupted by test')
  })
})

describe('BreachClock: `for` on a threshold breach', () => {
  const breach: MetricSample = { ok: false, value: 0.2, problem: 'above' }
  const error: MetricSample = { ok: false, problem: 'no answer' }
  const fine: MetricSample = { ok: true, value: 0 }

  it('counts a breach only once it has lasted `for`, and a good sample resets it', () => {
    const clock = new BreachClock(3000)
    expect(clock.counts(breach, 0)).toBe(false)
    expect(clock.counts(breach, 2000)).toBe(false)
    expect(clock.counts(breach, 3000)).toBe(true)
    expect(clock.counts(fine, 4000)).toBe(false)
    expect(clock.counts(breach, 5000)).toBe(false)
    expect(clock.counts(breach, 8000)).toBe(true)
  })

  it('counts errors and NaN at once, and every breach without `for`', () => {
    const clock = new BreachClock(3000)
    expect(clock.counts(error, 0)).toBe(true)
    expect(clock.counts({ ok: false, value: NaN, problem: 'NaN' }, 0)).toBe(true)
    expect(new BreachClock(0).counts(breach, 0)).toBe(true)
  })

  it('describes thresholds in words', () => {
    expect(describeThreshold({ max: 0.05 })).toBe('at most 0.05')
    expect(describeThreshold({ min: 10 })).toBe('at least 10')
    expect(describeThreshold({ min: 10, max: 20 })).toBe('between 10 and 20')
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
