/**
 * CloudWatch alarms for verify, like CodeDeploy's and ECS's rollback on alarm: which of the named
 * alarms are in state ALARM now. One DescribeAlarms call per 100 names (the API's limit), for
 * metric and composite alarms both: without AlarmTypes CloudWatch returns metric alarms only, and
 * a composite alarm named in the plan would look missing. DescribeAlarms ignores names it does
 * not know, so a missing alarm is found here by comparison and reported, never taken as "not in
 * ALARM": a typo in the plan must not make verify pass.
 *
 * The SDK (3.1142) speaks awsJson1_0 to CloudWatch in query-compatible mode; the client is
 * loaded on first use so that `bluegreen --help` does not pay for it.
 */
import { BluegreenError } from '../errors.js'
import { awsClientSettings } from '../aws-client.js'

export interface AlarmsOptions {
  names: string[]
  region: string
  endpoint?: string
  profile?: string
  signal?: AbortSignal
  /** An SDK client to use instead of one made (and destroyed) here: reuse one across samples. */
  client?: CloudWatchSend
}

/** The one SDK call this module makes, so a caller can hand in a long-lived client. */
export interface CloudWatchSend {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>
}

export interface AlarmInAlarm {
  name: string
  /** CloudWatch's StateReason, e.g. "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0)." */
  reason: string
  since?: Date
  type: 'metric' | 'composite'
}

export interface AlarmsReport {
  /** The named alarms in state ALARM. */
  inAlarm: AlarmInAlarm[]
  /** How many of the named alarms were seen, in whatever state. */
  seen: number
}

/** Alarms are described at most this many names at a time (DescribeAlarms' AlarmNames limit). */
const namesPerCall = 100

export async function alarmsInAlarm(options: AlarmsOptions): Promise<AlarmsReport> {
  const sdk = await import('@aws-sdk/client-cloudwatch')
  const owned = options.client ? undefined : newCloudWatchClient(sdk, options)
  const client: CloudWatchSend = options.client ?? owned!
  const found = new Map<
    string,
    { state?: string; reason?: string; since?: Date; type: 'metric' | 'composite' }
  >()
  try {
    for (let i = 0; i < options.names.length; i += namesPerCall) {
      const names = options.names.slice(i, i + namesPerCall)
      let nextToken: string | undefined
      do {
        const page = (await client.send(
          new sdk.DescribeAlarmsCommand({
            AlarmNames: names,
            AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
            MaxRecords: 100,
            NextToken: nextToken,
          }),
          { abortSignal: options.signal },
        )) as import('@aws-sdk/client-cloudwatch').DescribeAlarmsCommandOutput
        const described = [
          ...(page.MetricAlarms ?? []).map((a) => ({ ...a, type: 'metric' as const })),
          ...(page.CompositeAlarms ?? []).map((a) => ({ ...a, type: 'composite' as const })),
        ]
        for (const a of described)
          if (a.AlarmName)
            found.set(a.AlarmName, {
              state: a.StateValue,
              reason: a.StateReason,
              since: a.StateUpdatedTimestamp,
              type: a.type,
            })
        nextToken = page.NextToken
      } while (nextToken)
    }
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason
    throw cloudWatchError(error, options)
  } finally {
    owned?.destroy()
  }
  const missing = options.names.filter((name) => !found.has(name))
  if (missing.length > 0) {
    const where = `${options.region}${options.endpoint ? `, endpoint ${options.endpoint}` : ''}`
    throw new BluegreenError({
      code: 'VERIFY_FAILED',
      message: `CloudWatch alarm${missing.length > 1 ? 's' : ''} not found (${where}): ${missing.join(', ')}`,
      hint: 'check the names in verify.cloudwatchAlarms (they are case-sensitive), and cloudwatch.region or the account of your credentials',
    })
  }
  const inAlarm = options.names.flatMap((name) => {
    const alarm = found.get(name)!
    return alarm.state === 'ALARM'
      ? [{ name, reason: alarm.reason ?? 'no reason given', since: alarm.since, type: alarm.type }]
      : []
  })
  return { inAlarm, seen: found.size }
}

/** One line for a failing sample: "CloudWatch alarm shop-5xx is in ALARM (since …): reason". */
export function describeAlarms(alarms: AlarmInAlarm[]): string {
  return alarms
    .map(
      (a) =>
        `CloudWatch alarm ${a.name} is in ALARM${a.since ? ` since ${a.since.toISOString()}` : ''}: ${a.reason}`,
    )
    .join('; ')
}

/**
 * One verify sample of the alarms: failing when any is in ALARM, when one is missing, or when
 * CloudWatch cannot be asked (a failed call counts like a failed request). Interruption by the
 * signal is rethrown.
 */
export async function sampleAlarms(options: AlarmsOptions): Promise<{ ok: boolean; problem?: string }> {
  try {
    const { inAlarm } = await alarmsInAlarm(options)
    return inAlarm.length === 0 ? { ok: true } : { ok: false, problem: describeAlarms(inAlarm) }
  } catch (error) {
    if (error instanceof BluegreenError) return { ok: false, problem: error.message }
    throw error
  }
}

type Sdk = typeof import('@aws-sdk/client-cloudwatch')

/** A client for `options`' region and endpoint; the caller destroys it. */
export function newCloudWatchClient(
  sdk: Sdk,
  options: Pick<AlarmsOptions, 'region' | 'endpoint' | 'profile'>,
): InstanceType<Sdk['CloudWatchClient']> {
  // A verify sample must not hang on a black-holed connection.
  return new sdk.CloudWatchClient(
    awsClientSettings(options, { maxAttempts: 3, connectionTimeout: 5_000, requestTimeout: 10_000 }),
  )
}

interface SdkError extends Error {
  $metadata?: { httpStatusCode?: number; requestId?: string }
}

/** Why DescribeAlarms failed, in words a user can act on. A failed call is a failed sample. */
function cloudWatchError(error: unknown, options: AlarmsOptions): unknown {
  if (!(error instanceof Error) || error instanceof BluegreenError) return error
  const e = error as SdkError
  const where = `${options.region}${options.endpoint ? `, endpoint ${options.endpoint}` : ''}`
  const denied =
    e.name === 'AccessDenied' || e.name === 'AccessDeniedException' || e.$metadata?.httpStatusCode === 403
  return new BluegreenError({
    code: 'VERIFY_FAILED',
    message: `CloudWatch DescribeAlarms failed (${where}): ${e.name}: ${e.message}`,
    details: e.$metadata?.requestId ? [`request id ${e.$metadata.requestId}`] : undefined,
    hint: denied
      ? 'grant cloudwatch:DescribeAlarms to the credentials in use'
      : e.name === 'CredentialsProviderError'
        ? 'set cloudwatch.profile or AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY'
        : options.endpoint
          ? `check that ${options.endpoint} is up (for the local emulator: bluegreen local alb --config …)`
          : `check network access to monitoring.${options.region}.amazonaws.com, then run the command again`,
    cause: error,
  })
}
