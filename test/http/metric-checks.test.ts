/**
 * withMetricChecks, as the verify loop will use it: a real Prometheus scraping an app whose error
 * rate the test sets, and CloudWatch alarms in the emulator. A round passes while errors are low
 * and the alarm is OK; it fails, naming why, when the alarm goes to ALARM or the errors rise; a
 * `for` holds a breach back until it has lasted; a query that does not parse is permanent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withMetricChecks } from '../../src/http/metric-checks.js'
import { VerifyMetrics } from '../../src/http/metric-schema.js'
import { sampleMetric } from '../../src/http/prometheus.js'
import { startAlbEmulator, type AlbEmulator } from '../../src/local/alb/index.js'
import { closeApps, fixtureConfig, rejection, startPoolApps, type PoolApps } from '../local/alb-support.js'
import { waitFor } from '../support/process.js'
import {
  errorRateQuery,
  havePrometheus,
  startScrapedApp,
  type MetricsApp,
  type TestPrometheus,
} from './prometheus-support.js'

const errorRate = errorRateQuery

describe.runIf(havePrometheus())('withMetricChecks against Prometheus and the emulator’s CloudWatch', () => {
  let app: MetricsApp
  let prometheus: TestPrometheus
  let pools: PoolApps
  let emulator: AlbEmulator
  let setAlarm: (state: 'OK' | 'ALARM') => Promise<void>

  beforeAll(async () => {
    ;({ app, prometheus } = await startScrapedApp())
    pools = await startPoolApps(1)
    emulator = await startAlbEmulator(fixtureConfig(pools))
    const sdk = await import('@aws-sdk/client-cloudwatch')
    const client = new sdk.CloudWatchClient({
      region: emulator.region,
      endpoint: emulator.apiUrl,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    })
    await client.send(
      new sdk.PutMetricAlarmCommand({
        AlarmName: 'shop-5xx',
        Namespace: 'AWS/ApplicationELB',
        MetricName: 'HTTPCode_Target_5XX_Count',
        Statistic: 'Sum',
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 5,
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    )
    setAlarm = async (state) => {
      await client.send(
        new sdk.SetAlarmStateCommand({
          AlarmName: 'shop-5xx',
          StateValue: state,
          StateReason: `test: ${state}`,
        }),
      )
    }
    await setAlarm('OK')
  }, 60_000)
  afterAll(async () => {
    await prometheus?.stop()
    await app?.close()
    await emulator?.close()
    await closeApps(pools)
  })

  const metrics = (forTime = '0s') =>
    VerifyMetrics.parse({
      prometheus: [{ url: prometheus.url, query: errorRate, max: 0.05, for: forTime }],
      cloudwatchAlarms: ['shop-5xx'],
    })

  it('passes while errors are low and the alarm is OK; fails on ALARM, then on the error rate', async () => {
    await withMetricChecks(
      {
        metrics: metrics(),
        defaults: { region: emulator.region, endpoint: emulator.apiUrl },
        timeoutMs: 2000,
      },
      async (checks) => {
        // Given
        expect(checks.any).toBe(true)
        const fine = await checks.sample()
        expect(fine.problems).toEqual([])
        expect(fine.ok).toBe(true)
        expect(fine.values[0].value).toBeLessThan(0.05)

        // When the alarm fires
        await setAlarm('ALARM')
        const alarmed = await checks.sample()
        // Then
        expect(alarmed.ok).toBe(false)
        expect(alarmed.problems).toEqual([
          expect.stringMatching(/^CloudWatch alarm shop-5xx is in ALARM since .*: test: ALARM$/),
        ])

        // When the alarm clears but the errors rise
        await setAlarm('OK')
        app.setErrorRatio(0.5)
        let failing: string[] = []
        await waitFor(
          async () => {
            failing = (await checks.sample()).problems
            return failing.length > 0
          },
          20_000,
          'the error rate to fail a round',
        )
        // Then
        expect(failing).toEqual([
          expect.stringMatching(/: value 0\.\d+ is above the maximum 0\.05 \(expected at most 0\.05\)$/),
        ])
      },
    )
    app.setErrorRatio(0.01)
    await waitFor(
      async () =>
        (await sampleMetric({ url: prometheus.url, query: errorRate, max: 0.05, timeoutMs: 2000 })).ok,
      20_000,
      'the error rate to recover',
    )
  }, 60_000)

  it('holds a breach back until it has lasted `for`', async () => {
    await withMetricChecks(
      {
        metrics: metrics('2s'),
        defaults: { region: emulator.region, endpoint: emulator.apiUrl },
        timeoutMs: 2000,
      },
      async (checks) => {
        app.setErrorRatio(0.5)
        // Wait until the raw query breaches; the round does not count it yet.
        await waitFor(
          async () =>
            !(await sampleMetric({ url: prometheus.url, query: errorRate, max: 0.05, timeoutMs: 2000 })).ok,
          20_000,
          'the breach',
        )
        const first = await checks.sample()
        expect(first.ok).toBe(true)
        expect(first.values[0].value).toBeGreaterThan(0.05)
        await new Promise((resolve) => setTimeout(resolve, 2100))
        const later = await checks.sample()
        expect(later.ok).toBe(false)
      },
    )
    app.setErrorRatio(0.01)
  }, 60_000)

  it('marks a query that does not parse as permanent, and needs a region for alarms', async () => {
    const broken = VerifyMetrics.parse({ prometheus: { url: prometheus.url, query: 'sum(', max: 1 } })
    const round = await withMetricChecks({ metrics: broken, timeoutMs: 2000 }, (checks) => checks.sample())
    expect(round.ok).toBe(false)
    expect(round.permanent).toMatch(/^prometheus query `sum\(`: bad_data: /)
    const error = await rejection(
      withMetricChecks({ metrics: VerifyMetrics.parse({ cloudwatchAlarms: ['a'] }), timeoutMs: 2000 }, () =>
        Promise.resolve(),
      ),
    )
    expect(error.message).toBe('verify.cloudwatchAlarms needs a region')
  })
})
