/**
 * verifyProduction with metric checks: a real Prometheus scraping an app at 1% errors, beside a
 * real production server that answers the new version. Each interval's request and metric round
 * make one sample; a failing round fails the sample, a query Prometheus cannot parse fails verify
 * at once, and {{placeholders}} in a query are filled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BluegreenError } from '../../src/errors.js'
import { verifyProduction, type VerifyOptions, type VerifySample } from '../../src/http/verify.js'
import type { PrometheusCheck } from '../../src/http/metric-schema.js'
import { startTestApp, type TestApp } from '../support/http-app.js'
import {
  errorRateQuery,
  havePrometheus,
  startScrapedApp,
  type MetricsApp,
  type TestPrometheus,
} from './prometheus-support.js'

/** Production answers 2.0.0; verify bakes 1.2 s, sampling every 200 ms. */
function baseOptions(production: TestApp): VerifyOptions {
  return {
    url: `http://${production.address}:${production.port}/`,
    forMs: 1200,
    intervalMs: 200,
    insecure: false,
    expect: {},
    versionMarker: '{{version}}',
    versionSeen: 3,
    maxErrorRatio: 0.05,
    failAfter: 3,
    timeoutMs: 2000,
    vars: { version: '2.0.0', pool: 'app' },
  }
}

describe.runIf(havePrometheus())('verify with Prometheus queries beside the URL', () => {
  let production: TestApp
  let scraped: { app: MetricsApp; prometheus: TestPrometheus }
  beforeAll(async () => {
    production = await startTestApp({ pool: 'green', version: '2.0.0' })
    scraped = await startScrapedApp()
  })
  afterAll(async () => {
    await scraped?.prometheus.stop()
    await scraped?.app.close()
    await production?.close()
  })

  function verify(checks: Omit<PrometheusCheck, 'url' | 'for'>[], overrides: Partial<VerifyOptions> = {}) {
    const samples: VerifySample[] = []
    const report = verifyProduction({
      ...baseOptions(production),
      metrics: {
        metrics: { prometheus: checks.map((c) => ({ url: scraped.prometheus.url, for: '0s', ...c })) },
        timeoutMs: 2000,
      },
      onSample: (s) => samples.push(s),
      ...overrides,
    })
    return report.then((r) => ({ report: r, samples }))
  }

  it('passes while every query stays within its threshold, with the values in each sample', async () => {
    const { report, samples } = await verify([{ query: errorRateQuery, max: 0.5 }])
    expect(report.ok, report.reason).toBe(true)
    expect(report.errors).toBe(0)
    expect(samples.length).toBeGreaterThanOrEqual(5)
    for (const s of samples) {
      expect(s.metrics).toHaveLength(1)
      expect(s.metrics![0].query).toBe(errorRateQuery)
      expect(s.metrics![0].value).toBeGreaterThan(0)
      expect(s.metrics![0].value).toBeLessThan(0.05)
    }
  })

  it('counts a breach like a failed request although production answered: failAfter in a row fails', async () => {
    const { report, samples } = await verify([{ query: errorRateQuery, max: 0.001 }])
    expect(report.ok).toBe(false)
    expect(samples).toHaveLength(3)
    expect(samples.every((s) => !s.ok && s.status === 200 && s.markerSeen)).toBe(true)
    expect(report.reason).toContain('3 failed samples in a row')
    expect(report.reason).toContain(`prometheus query \`${errorRateQuery}\``)
    expect(report.reason).toMatch(/value 0\.0\d+ is above the maximum 0\.001 \(expected at most 0\.001\)/)
    // A failed sample does not count towards the version streak
    expect(report.versionStreak).toBe(0)
  })

  it('judges metric failures in the error ratio when they are not in a row', async () => {
    // Given failAfter out of reach, every interval breaching
    const { report } = await verify([{ query: errorRateQuery, max: 0.001 }], { failAfter: 1000, forMs: 600 })
    expect(report.ok).toBe(false)
    expect(report.reason).toMatch(/^error ratio 100% \(\d+ of \d+ samples\) is above the limit of 5%/)
  })

  it('fails on the first sample when Prometheus cannot parse the query', async () => {
    const { report, samples } = await verify([{ query: 'sum(rate(app_requests_total[5s]', max: 1 }])
    expect(report.ok).toBe(false)
    expect(samples).toHaveLength(1)
    expect(report.reason).toContain('bad_data')
    expect(report.reason).toContain('sum(rate(app_requests_total[5s]')
  })

  it('fills {{placeholders}} in a query', async () => {
    // The scrape job is "app"; unfilled, the selector matches nothing and the sample fails
    const { report } = await verify([{ query: 'sum(rate(app_requests_total{job="{{pool}}"}[5s]))', min: 1 }])
    expect(report.ok, report.reason).toBe(true)
    const unfilled = await verify([{ query: 'sum(rate(app_requests_total{job="{{pool}}"}[5s]))', min: 1 }], {
      vars: { version: '2.0.0', pool: 'blue' },
    })
    expect(unfilled.report.ok).toBe(false)
    expect(unfilled.report.reason).toContain('job="blue"')
    expect(unfilled.report.reason).toContain('returned no series')
  })
})

describe('verify with CloudWatch alarms', () => {
  it('refuses alarms without a region before it samples anything', async () => {
    const production = await startTestApp({ pool: 'green', version: '2.0.0' })
    try {
      const run = verifyProduction({
        ...baseOptions(production),
        metrics: { metrics: { cloudwatchAlarms: ['shop-5xx'] }, timeoutMs: 500 },
      })
      await expect(run).rejects.toThrow(BluegreenError)
      await expect(run).rejects.toThrow('verify.cloudwatchAlarms needs a region')
      expect(production.requests).toBe(0)
    } finally {
      await production.close()
    }
  })
})
