/**
 * Issue 18, verify by metrics, end to end: the built CLI releases against the local stack (real
 * PostgreSQL, the ELBv2 emulator through the AWS SDK, the demo app's pools) with a verify that
 * watches, beside the URL, (a) a real Prometheus scraping an app whose error rate the test
 * raises once production answers from the new pool, and (b) a CloudWatch alarm in the emulator
 * that the test sets to ALARM at that moment. A breach switches back automatically (exit 3)
 * with the query, its value and the threshold, or the alarm, in the message; no breach passes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  errorRateQuery,
  havePrometheus,
  startScrapedApp,
  type MetricsApp,
  type TestPrometheus,
} from '../http/prometheus-support.js'
import { putTestAlarm } from '../http/cloudwatch-support.js'
import { bluegreen, productionPool, repoRoot, startE2eStack, type E2eStack } from '../support/e2e.js'
import { waitFor } from '../support/process.js'

type Sdk = typeof import('@aws-sdk/client-cloudwatch')

let stack: E2eStack | undefined
let scraped: { app: MetricsApp; prometheus: TestPrometheus } | undefined
let planDir: string | undefined
afterEach(async () => {
  await scraped?.prometheus.stop()
  await scraped?.app.close()
  await stack?.close()
  if (planDir) rmSync(planDir, { recursive: true, force: true })
  scraped = stack = planDir = undefined
})

/**
 * A release plan against the local stack: deploy, switch at once, then verify for `bakeFor` with
 * the given metric keys (YAML lines, indented under `verify:`).
 */
function writePlan(bakeFor: string, metricLines: string[]): string {
  planDir = mkdtempSync(join(tmpdir(), 'bluegreen-verify-metrics-'))
  const plan = [
    'app: shop',
    'database:',
    '  url: ${DATABASE_URL}',
    '  lockTimeout: 500ms',
    'loadBalancer:',
    '  provider: aws-elbv2',
    '  region: us-east-1',
    '  endpoint: ${BLUEGREEN_ALB_ENDPOINT}',
    '  listenerArn: ${BLUEGREEN_LISTENER_ARN}',
    'pools:',
    "  blue: { targetGroupArn: '${BLUEGREEN_BLUE_TG_ARN}' }",
    "  green: { targetGroupArn: '${BLUEGREEN_GREEN_TG_ARN}' }",
    'phases:',
    '  - deploy:',
    `      run: [node, ${JSON.stringify(join(repoRoot, 'plans/demo/deploy.mjs'))}, '{{pool}}', '{{version}}']`,
    '      timeout: 30s',
    '      healthTimeout: 20s',
    '  - switch: { steps: [100] }',
    '  - verify:',
    '      url: ${BLUEGREEN_DEMO_URL}/version',
    `      for: ${bakeFor}`,
    '      interval: 250ms',
    "      versionMarker: '{{version}}'",
    ...metricLines.map((line) => `      ${line}`),
    '  - standby: { for: 1h }',
    '',
  ].join('\n')
  const file = join(planDir, 'plan.yaml')
  writeFileSync(file, plan)
  return file
}

/** Runs `release` and, once production answers from green, calls `afterSwitch`. */
async function releaseAndThen(
  plan: string,
  afterSwitch: () => Promise<void> | void,
): Promise<{ code: number | null; stdout: string; stderr: string; switchedAt: number }> {
  const run = bluegreen(['release', plan, '--version', '2.0.0', '--yes'], stack!.cliEnv, {
    timeoutMs: 90_000,
  })
  let settled = false
  void run.finally(() => (settled = true))
  await waitFor(
    async () => settled || (await productionPool(stack!)) === 'green',
    60_000,
    'the switch to green',
  )
  const switchedAt = Date.now()
  if (!settled) await afterSwitch()
  return { ...(await run), switchedAt }
}

const promLines = (url: string, max: number) => [
  'prometheus:',
  `  url: ${url}`,
  `  query: ${JSON.stringify(errorRateQuery)}`,
  `  max: ${max}`,
]

describe.runIf(havePrometheus())('verify by a Prometheus query, end to end', () => {
  it('rolls back automatically when the error rate rises after the switch (exit 3)', async () => {
    stack = await startE2eStack({ profiles: 10 })
    scraped = await startScrapedApp()
    const plan = writePlan('20s', promLines(scraped.prometheus.url, 0.1))

    // When the error rate goes from 1% to 60% right after the switch
    const run = await releaseAndThen(plan, () => scraped!.app.setErrorRatio(0.6))

    // Then verify fails on the query, and traffic is back on blue
    expect(run.code, run.stderr).toBe(3)
    expect(run.stdout).toContain('automatic rollback')
    expect(run.stderr).toContain('VERIFY_FAILED')
    expect(run.stderr).toContain(errorRateQuery)
    expect(run.stderr).toMatch(/value 0\.[1-9]\d* is above the maximum 0\.1 \(expected at most 0\.1\)/)
    expect(await productionPool(stack)).toBe('blue')
    // Well before the 20 s bake time: three failed rounds in a row fail it
    expect(Date.now() - run.switchedAt).toBeLessThan(15_000)
  }, 120_000)

  it('passes when the error rate stays low (exit 0)', async () => {
    stack = await startE2eStack({ profiles: 10 })
    scraped = await startScrapedApp()
    const plan = writePlan('3s', promLines(scraped.prometheus.url, 0.1))

    const run = await releaseAndThen(plan, () => {})

    expect(run.code, run.stderr).toBe(0)
    expect(await productionPool(stack)).toBe('green')
    // The query was evaluated each interval: its value (about 1%) is in the progress lines
    expect(run.stdout).toContain(`\`${errorRateQuery}\` = 0.0`)
    expect(run.stdout).toMatch(/production healthy for 3s: \d+ samples, 0 errors/)
  }, 120_000)

  it('fails at once on a query Prometheus cannot parse, naming it', async () => {
    stack = await startE2eStack({ profiles: 10 })
    scraped = await startScrapedApp()
    const plan = writePlan('20s', [
      'prometheus:',
      `  url: ${scraped.prometheus.url}`,
      '  query: "sum(rate(app_requests_total[5s]"',
      '  max: 1',
    ])

    const run = await releaseAndThen(plan, () => {})

    expect(run.code, run.stderr).toBe(3)
    expect(run.stderr).toContain('sum(rate(app_requests_total[5s]')
    expect(run.stderr).toContain('bad_data')
    expect(Date.now() - run.switchedAt).toBeLessThan(10_000)
    expect(await productionPool(stack)).toBe('blue')
  }, 120_000)
})

describe('verify by CloudWatch alarms in the emulator, end to end', () => {
  async function withClient<T>(fn: (sdk: Sdk, client: InstanceType<Sdk['CloudWatchClient']>) => Promise<T>) {
    const sdk = await import('@aws-sdk/client-cloudwatch')
    const client = new sdk.CloudWatchClient({
      region: 'us-east-1',
      endpoint: stack!.emulator.apiUrl,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    })
    try {
      return await fn(sdk, client)
    } finally {
      client.destroy()
    }
  }

  async function putAlarm(name: string): Promise<void> {
    await withClient(async (sdk, client) => {
      await putTestAlarm(sdk, client, name)
      await client.send(
        new sdk.SetAlarmStateCommand({ AlarmName: name, StateValue: 'OK', StateReason: 'test' }),
      )
    })
  }

  async function setState(name: string, state: 'OK' | 'ALARM', reason: string): Promise<void> {
    await withClient((sdk, client) =>
      client.send(new sdk.SetAlarmStateCommand({ AlarmName: name, StateValue: state, StateReason: reason })),
    )
  }

  it('rolls back automatically when an alarm goes to ALARM during verify (exit 3)', async () => {
    stack = await startE2eStack({ profiles: 10 })
    await putAlarm('shop-5xx')
    await putAlarm('shop-latency')
    // Region and endpoint come from the aws-elbv2 load balancer
    const plan = writePlan('20s', ['cloudwatchAlarms: [shop-latency, shop-5xx]'])

    const run = await releaseAndThen(plan, () =>
      setState(
        'shop-5xx',
        'ALARM',
        'Threshold Crossed: 1 datapoint [42.0] was greater than the threshold (5.0).',
      ),
    )

    expect(run.code, run.stderr).toBe(3)
    expect(run.stdout).toContain('automatic rollback')
    expect(run.stderr).toContain('CloudWatch alarm shop-5xx is in ALARM')
    expect(run.stderr).toContain('[42.0] was greater than the threshold (5.0)')
    expect(run.stderr).not.toContain('shop-latency is in ALARM')
    // The rollback's confirmation watches the URL only: the alarm is still in ALARM
    expect(run.stdout).toMatch(/rollback done in .*: blue is live/)
    expect(await productionPool(stack)).toBe('blue')
    expect(Date.now() - run.switchedAt).toBeLessThan(15_000)
  }, 120_000)

  it('passes while the alarms stay OK (exit 0)', async () => {
    stack = await startE2eStack({ profiles: 10 })
    await putAlarm('shop-5xx')
    const plan = writePlan('2s', ['cloudwatchAlarms: [shop-5xx]'])

    const run = await releaseAndThen(plan, () => {})

    expect(run.code, run.stderr).toBe(0)
    expect(await productionPool(stack)).toBe('green')
  }, 120_000)

  it('fails verify when a listed alarm does not exist: a typo must not pass', async () => {
    stack = await startE2eStack({ profiles: 10 })
    await putAlarm('shop-5xx')
    const plan = writePlan('2s', ['cloudwatchAlarms: [shop-5xxx]'])

    const run = await releaseAndThen(plan, () => {})

    expect(run.code, run.stderr).toBe(3)
    expect(run.stderr).toContain('CloudWatch alarm not found')
    expect(run.stderr).toContain('shop-5xxx')
    expect(await productionPool(stack)).toBe('blue')
  }, 120_000)
})

describe('plan show and --dry-run name the metric checks', () => {
  it('lists each query with its threshold and the alarms with their region, hiding passwords', async () => {
    const plan = writePlan('5m', [
      'prometheus:',
      '  - url: http://watcher:s3cr3t-pw@127.0.0.1:9/prom',
      '    query: "sum(rate(errors{pool=\\"{{pool}}\\"}[1m]))"',
      '    max: 0.5',
      '    for: 30s',
      '  - { url: "http://127.0.0.1:9", query: "sum(rate(requests[1m]))", min: 10, max: 200 }',
      'cloudwatchAlarms: [shop-5xx]',
      'cloudwatch: { region: eu-west-1 }',
    ])
    const env = {
      DATABASE_URL: 'postgres://u@127.0.0.1:9/db',
      BLUEGREEN_ALB_ENDPOINT: 'http://127.0.0.1:9',
      BLUEGREEN_LISTENER_ARN:
        'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2',
      BLUEGREEN_BLUE_TG_ARN:
        'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/0123456789abcdef',
      BLUEGREEN_GREEN_TG_ARN:
        'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-green/0123456789abcdef',
      BLUEGREEN_DEMO_URL: 'http://127.0.0.1:9',
    }
    const shown = await bluegreen(['plan', 'show', plan], env)
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toContain(
      'prometheus http://watcher:***@127.0.0.1:9/prom: `sum(rate(errors{pool="{{pool}}"}[1m]))` must stay at most 0.5 (a breach lasting 30s counts as a failed sample)',
    )
    expect(shown.stdout).toContain('`sum(rate(requests[1m]))` must stay between 10 and 200')
    expect(shown.stdout).toContain('CloudWatch alarms (eu-west-1) must not be in ALARM: shop-5xx')
    expect(shown.stdout + shown.stderr).not.toContain('s3cr3t-pw')
  })
})
