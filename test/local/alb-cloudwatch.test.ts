/**
 * CloudWatch alarms on the emulator's endpoint, through both clients CloudWatch has: the AWS SDK
 * for JavaScript (awsJson1_0, query-compatible) and the AWS CLI v2 (botocore, awsQuery). Then
 * bluegreen's alarmsInAlarm against the emulator: an alarm set to ALARM is seen, set back to OK
 * is not, and a missing one is an error that names it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BluegreenError } from '../../src/errors.js'
import { alarmsInAlarm, sampleAlarms } from '../../src/http/cloudwatch-alarms.js'
import { startAlbEmulator, type AlbEmulator } from '../../src/local/alb/index.js'
import {
  awsCall,
  closeApps,
  fixtureConfig,
  haveAwsCli,
  rejection,
  startPoolApps,
  type PoolApps,
} from './alb-support.js'
import { putTestAlarm } from '../http/cloudwatch-support.js'

type Sdk = typeof import('@aws-sdk/client-cloudwatch')

const region = 'eu-west-1'

let apps: PoolApps
let emulator: AlbEmulator
let sdk: Sdk
let client: InstanceType<Sdk['CloudWatchClient']>

beforeAll(async () => {
  apps = await startPoolApps(1)
  emulator = await startAlbEmulator(fixtureConfig(apps))
  sdk = await import('@aws-sdk/client-cloudwatch')
  client = new sdk.CloudWatchClient({
    region,
    endpoint: emulator.apiUrl,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  })
})
afterAll(async () => {
  client?.destroy()
  await emulator?.close()
  await closeApps(apps)
})

function putAlarm(name: string): Promise<void> {
  return putTestAlarm(sdk, client, name)
}

describe('CloudWatch alarms in the emulator, through the AWS SDK (awsJson1_0)', () => {
  it('creates an alarm without data, sets it to ALARM and back, and describes each state', async () => {
    // Given
    await putAlarm('sdk-5xx')
    const first = await client.send(new sdk.DescribeAlarmsCommand({ AlarmNames: ['sdk-5xx'] }))
    expect(first.MetricAlarms).toHaveLength(1)
    const created = first.MetricAlarms![0]
    expect(created).toMatchObject({
      AlarmName: 'sdk-5xx',
      AlarmArn: `arn:aws:cloudwatch:${region}:000000000000:alarm:sdk-5xx`,
      StateValue: 'INSUFFICIENT_DATA',
      Threshold: 5,
      Period: 60,
      Dimensions: [{ Name: 'LoadBalancer', Value: 'app/shop/0123456789abcdef' }],
    })
    expect(created.StateUpdatedTimestamp).toBeInstanceOf(Date)
    expect(Math.abs(created.StateUpdatedTimestamp!.getTime() - Date.now())).toBeLessThan(60_000)

    // When
    await client.send(
      new sdk.SetAlarmStateCommand({ AlarmName: 'sdk-5xx', StateValue: 'ALARM', StateReason: 'drill' }),
    )
    // Then
    const inAlarm = await client.send(new sdk.DescribeAlarmsCommand({ StateValue: 'ALARM' }))
    expect(inAlarm.MetricAlarms!.map((a) => [a.AlarmName, a.StateValue, a.StateReason])).toEqual([
      ['sdk-5xx', 'ALARM', 'drill'],
    ])

    // When: a PutMetricAlarm on an existing alarm changes its configuration, not its state
    await putAlarm('sdk-5xx')
    const updated = await client.send(new sdk.DescribeAlarmsCommand({ AlarmNames: ['sdk-5xx'] }))
    expect(updated.MetricAlarms![0].StateValue).toBe('ALARM')
  })

  it('answers SetAlarmState on an unknown alarm with ResourceNotFound, the SDK’s own exception class', async () => {
    // When
    const error = await rejection(
      client.send(
        new sdk.SetAlarmStateCommand({ AlarmName: 'no-such-alarm', StateValue: 'ALARM', StateReason: 'x' }),
      ),
    )
    // Then
    expect(error).toBeInstanceOf(sdk.ResourceNotFound)
    expect(error.message).toContain('no-such-alarm')
    // Query-compatible: the Query error code and fault type, from x-amzn-query-error.
    expect(error.Error).toMatchObject({ Code: 'ResourceNotFound', Type: 'Sender' })
    expect(error.$metadata).toMatchObject({ httpStatusCode: 404 })
  })

  it('rejects StateReasonData that is not JSON with InvalidFormatFault, and a bad state with a ValidationException', async () => {
    await putAlarm('sdk-format')
    const format = await rejection(
      client.send(
        new sdk.SetAlarmStateCommand({
          AlarmName: 'sdk-format',
          StateValue: 'OK',
          StateReason: 'x',
          StateReasonData: '{not json',
        }),
      ),
    )
    expect(format).toBeInstanceOf(sdk.InvalidFormatFault)
    const state = await rejection(
      client.send(
        new sdk.SetAlarmStateCommand({
          AlarmName: 'sdk-format',
          StateValue: 'BROKEN' as 'OK',
          StateReason: 'x',
        }),
      ),
    )
    expect(state).toBeInstanceOf(sdk.ValidationException)
    expect(state.message).toContain('stateValue')
  })

  it('pages DescribeAlarms with NextToken, sorted by name', async () => {
    // Given
    for (const n of ['page-c', 'page-a', 'page-b']) await putAlarm(n)
    // When
    const names: string[] = []
    let token: string | undefined
    let pages = 0
    do {
      const page = await client.send(
        new sdk.DescribeAlarmsCommand({ AlarmNamePrefix: 'page-', MaxRecords: 2, NextToken: token }),
      )
      names.push(...page.MetricAlarms!.map((a) => a.AlarmName!))
      token = page.NextToken
      pages++
    } while (token)
    // Then
    expect(names).toEqual(['page-a', 'page-b', 'page-c'])
    expect(pages).toBe(2)
    // A forged token, or ELBv2's Marker for the same position, is refused.
    for (const forged of ['bogus', Buffer.from('o2').toString('base64url')]) {
      const error = await rejection(
        client.send(new sdk.DescribeAlarmsCommand({ AlarmNamePrefix: 'page-', NextToken: forged })),
      )
      expect(error).toBeInstanceOf(sdk.InvalidNextToken)
    }
  })
})

describe('alarmsInAlarm against the emulator', () => {
  const options = () => ({ region, endpoint: emulator.apiUrl })

  it('sees an alarm set to ALARM, with its reason, and no longer once it is OK', async () => {
    // Given
    await putAlarm('shop-5xx')
    await putAlarm('shop-latency')
    const names = ['shop-5xx', 'shop-latency']
    expect((await alarmsInAlarm({ ...options(), names })).inAlarm).toEqual([])

    // When
    await client.send(
      new sdk.SetAlarmStateCommand({
        AlarmName: 'shop-5xx',
        StateValue: 'ALARM',
        StateReason: 'Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).',
      }),
    )
    // Then
    const report = await alarmsInAlarm({ ...options(), names })
    expect(report.seen).toBe(2)
    expect(report.inAlarm.map((a) => [a.name, a.reason])).toEqual([
      ['shop-5xx', 'Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).'],
    ])
    const sample = await sampleAlarms({ ...options(), names })
    expect(sample.ok).toBe(false)
    expect(sample.problem).toMatch(/^CloudWatch alarm shop-5xx is in ALARM since \d{4}-.*: Threshold Crossed/)

    // When
    await client.send(
      new sdk.SetAlarmStateCommand({ AlarmName: 'shop-5xx', StateValue: 'OK', StateReason: 'fine' }),
    )
    // Then
    expect((await alarmsInAlarm({ ...options(), names })).inAlarm).toEqual([])
    expect(await sampleAlarms({ ...options(), names })).toEqual({ ok: true })
  })

  it('names the alarms that do not exist instead of taking them as not in ALARM', async () => {
    await putAlarm('exists')
    const error = await rejection(alarmsInAlarm({ ...options(), names: ['exists', 'typo-5xx', 'gone'] }))
    expect(error).toBeInstanceOf(BluegreenError)
    expect(error.message).toBe(
      `CloudWatch alarms not found (${region}, endpoint ${emulator.apiUrl}): typo-5xx, gone`,
    )
    const sample = await sampleAlarms({ ...options(), names: ['typo-5xx'] })
    expect(sample).toEqual({
      ok: false,
      problem: `CloudWatch alarm not found (${region}, endpoint ${emulator.apiUrl}): typo-5xx`,
    })
  })

  it('looks at more than 100 alarms in calls of 100 names', async () => {
    // Given: 150 alarms, the last one in ALARM
    const names = Array.from({ length: 150 }, (_, i) => `many-${String(i).padStart(3, '0')}`)
    for (const n of names) await putAlarm(n)
    await client.send(
      new sdk.SetAlarmStateCommand({ AlarmName: 'many-149', StateValue: 'ALARM', StateReason: 'x' }),
    )
    // When
    const report = await alarmsInAlarm({ ...options(), names })
    // Then
    expect(report.seen).toBe(150)
    expect(report.inAlarm.map((a) => a.name)).toEqual(['many-149'])
  })

  it('turns a CloudWatch API failure into a failed sample that says what failed', async () => {
    // Given: DescribeAlarms throttled more often than the client retries
    emulator.injectFault({ mode: 'throttle', count: 10, actions: ['DescribeAlarms'] })
    try {
      // When
      const sample = await sampleAlarms({ ...options(), names: ['exists'] })
      // Then
      expect(sample.ok).toBe(false)
      expect(sample.problem).toMatch(
        /^CloudWatch DescribeAlarms failed \(eu-west-1, endpoint .*\): Throttling: Rate exceeded/,
      )
    } finally {
      emulator.clearFaults()
    }
  })

  it('is rethrown as the signal’s reason when verify is interrupted', async () => {
    const controller = new AbortController()
    emulator.injectFault({ mode: 'slow', delayMs: 2000, actions: ['DescribeAlarms'] })
    try {
      const pending = alarmsInAlarm({ ...options(), names: ['exists'], signal: controller.signal })
      setTimeout(() => controller.abort(new Error('interrupted by test')), 100)
      const error = await rejection(pending)
      expect(error.message).toBe('interrupted by test')
    } finally {
      emulator.clearFaults()
    }
  })
})

describe.runIf(haveAwsCli())('CloudWatch alarms in the emulator, through the AWS CLI v2 (awsQuery)', () => {
  const aws = (args: string[]) => awsCall(emulator.apiUrl, region, 'cloudwatch', args)

  it('puts an alarm, sets it to ALARM, describes it, and alarmsInAlarm (the SDK) sees what the CLI set', async () => {
    // Given
    const put = await aws([
      'put-metric-alarm',
      '--alarm-name',
      'cli-5xx',
      '--namespace',
      'AWS/ApplicationELB',
      '--metric-name',
      'HTTPCode_Target_5XX_Count',
      '--dimensions',
      'Name=LoadBalancer,Value=app/shop/0123456789abcdef',
      '--statistic',
      'Sum',
      '--period',
      '60',
      '--evaluation-periods',
      '2',
      '--threshold',
      '5',
      '--comparison-operator',
      'GreaterThanThreshold',
    ])
    expect(put.code, put.stderr).toBe(0)

    // When
    const set = await aws([
      'set-alarm-state',
      '--alarm-name',
      'cli-5xx',
      '--state-value',
      'ALARM',
      '--state-reason',
      'from the CLI',
      '--state-reason-data',
      '{"source":"test"}',
    ])
    expect(set.code, set.stderr).toBe(0)

    // Then: the CLI parses the XML into the model's shapes
    const described = await aws(['describe-alarms', '--alarm-names', 'cli-5xx'])
    expect(described.code, described.stderr).toBe(0)
    const alarms = described.json.MetricAlarms as Record<string, unknown>[]
    expect(alarms).toHaveLength(1)
    expect(alarms[0]).toMatchObject({
      AlarmName: 'cli-5xx',
      StateValue: 'ALARM',
      StateReason: 'from the CLI',
      StateReasonData: '{"source":"test"}',
      EvaluationPeriods: 2,
      Threshold: 5,
      ActionsEnabled: true,
      Dimensions: [{ Name: 'LoadBalancer', Value: 'app/shop/0123456789abcdef' }],
    })
    expect(Number.isNaN(Date.parse(String(alarms[0].StateUpdatedTimestamp)))).toBe(false)
    const report = await alarmsInAlarm({ names: ['cli-5xx'], region, endpoint: emulator.apiUrl })
    expect(report.inAlarm.map((a) => a.name)).toEqual(['cli-5xx'])

    // When: back to OK, then filtering by state
    const ok = await aws([
      'set-alarm-state',
      '--alarm-name',
      'cli-5xx',
      '--state-value',
      'OK',
      '--state-reason',
      'x',
    ])
    expect(ok.code, ok.stderr).toBe(0)
    const stillInAlarm = await aws([
      'describe-alarms',
      '--state-value',
      'ALARM',
      '--alarm-name-prefix',
      'cli-',
    ])
    expect(stillInAlarm.json.MetricAlarms).toEqual([])
  })

  it('fails set-alarm-state on an unknown alarm with ResourceNotFound', async () => {
    const result = await aws([
      'set-alarm-state',
      '--alarm-name',
      'cli-missing',
      '--state-value',
      'ALARM',
      '--state-reason',
      'x',
    ])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/\(ResourceNotFound\).*cli-missing/)
  })
})
