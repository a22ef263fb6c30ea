/**
 * CloudWatch alarms on the emulator's endpoint, for verify's `cloudwatchAlarms` in tests and the
 * demo: PutMetricAlarm creates (or replaces) an alarm, SetAlarmState sets its state (on AWS too
 * that is how one tests an alarm), DescribeAlarms and DeleteAlarms do what they say. Alarms are
 * never evaluated against metrics: their state is what SetAlarmState last made it.
 *
 * CloudWatch answers two protocols, and so does the emulator:
 * - awsJson1_0, which the AWS SDK for JavaScript has used since 2025 (3.1142 here): POST with
 *   `X-Amz-Target: GraniteServiceVersion20100801.<Action>` and a JSON body; timestamps are epoch
 *   seconds. Errors carry `x-amzn-query-error: <Code>;Sender` because the service is
 *   query-compatible: the SDK maps that code to its exception class (ResourceNotFound …).
 * - awsQuery, which botocore (the AWS CLI v2) still uses: form-encoded `Action=…&Version=2010-08-01`
 *   and XML answers in the monitoring namespace, as the ELBv2 API beside it.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import {
  parseQuery,
  QueryParseError,
  read,
  toXml,
  type QueryNode,
  type QueryStruct,
  type XmlNode,
} from './query.js'
import { asApiError, pageOf, queryErrorXml } from './aws-replies.js'
import { ApiError } from './state.js'

export const cloudWatchVersion = '2010-08-01'
const target = 'GraniteServiceVersion20100801'
const namespace = 'http://monitoring.amazonaws.com/doc/2010-08-01/'

const states = ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const
type AlarmState = (typeof states)[number]
const comparisons = [
  'GreaterThanOrEqualToThreshold',
  'GreaterThanThreshold',
  'LessThanThreshold',
  'LessThanOrEqualToThreshold',
  'LessThanLowerOrGreaterThanUpperThreshold',
  'LessThanLowerThreshold',
  'GreaterThanUpperThreshold',
]
const statistics = ['SampleCount', 'Average', 'Sum', 'Minimum', 'Maximum']

export interface AlarmRecord {
  name: string
  arn: string
  description?: string
  actionsEnabled: boolean
  okActions: string[]
  alarmActions: string[]
  insufficientDataActions: string[]
  metricName?: string
  namespace?: string
  statistic?: string
  extendedStatistic?: string
  dimensions: { Name: string; Value: string }[]
  period?: number
  unit?: string
  evaluationPeriods: number
  datapointsToAlarm?: number
  threshold?: number
  comparisonOperator: string
  treatMissingData?: string
  state: AlarmState
  stateReason: string
  stateReasonData?: string
  stateUpdated: Date
  stateTransitioned: Date
  configurationUpdated: Date
}

/** JSON error shapes by Query error code, as the SDK's error registry names them. */
const jsonShapes: Record<string, string> = {
  InvalidFormat: 'InvalidFormatFault',
  LimitExceeded: 'LimitExceededFault',
  InvalidParameterValue: 'InvalidParameterValueException',
  InvalidParameterCombination: 'InvalidParameterCombinationException',
  MissingParameter: 'MissingRequiredParameterException',
  ValidationError: 'ValidationException',
}

type Handler = (params: QueryStruct) => Out

export class CloudWatchApi {
  /** By name; DescribeAlarms lists them sorted by name, as CloudWatch does. */
  readonly alarms = new Map<string, AlarmRecord>()
  private readonly handlers = new Map<string, Handler>([
    ['DescribeAlarms', (p) => this.describeAlarms(p)],
    ['PutMetricAlarm', (p) => this.putMetricAlarm(p)],
    ['SetAlarmState', (p) => this.setAlarmState(p)],
    ['DeleteAlarms', (p) => this.deleteAlarms(p)],
  ])

  /**
   * `beforeAction` runs before each call: the API server's fault injection (throttle, 5xx,
   * slow) applies to CloudWatch actions as to ELBv2 ones.
   */
  constructor(
    private readonly region: string,
    private readonly accountId: string,
    private readonly beforeAction: (action: string) => Promise<void> = () => Promise.resolve(),
  ) {}

  /** Whether a request to the shared endpoint is a CloudWatch one (either protocol). */
  accepts(headers: IncomingHttpHeaders, form: URLSearchParams): boolean {
    const t = headers['x-amz-target']
    if (typeof t === 'string') return t.startsWith(`${target}.`)
    return form.get('Version') === cloudWatchVersion
  }

  async handle(
    headers: IncomingHttpHeaders,
    body: string,
    form: URLSearchParams,
    requestId: string,
    res: ServerResponse,
  ): Promise<void> {
    const json = typeof headers['x-amz-target'] === 'string'
    try {
      const action = json
        ? String(headers['x-amz-target']).slice(target.length + 1)
        : (form.get('Action') ?? '')
      const handler = this.handlers.get(action)
      if (!handler) {
        throw json
          ? new ApiError('UnknownOperationException', `Unknown operation ${action.slice(0, 64)}`)
          : new ApiError('InvalidAction', 'The action or operation requested is not valid.')
      }
      await this.beforeAction(action)
      const params = json ? fromJson(body) : fromQuery(form)
      const result = handler(params)
      if (json) {
        res
          .writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId })
          .end(JSON.stringify(toJsonValue(result)))
        return
      }
      const resultXml = isEmpty(result) ? '' : toXml(`${action}Result`, toXmlValue(result))
      res
        .writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId })
        .end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${namespace}">${resultXml}` +
            `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
        )
    } catch (error) {
      const e = asApiError(error)
      if (json) {
        res
          .writeHead(e.status, {
            'content-type': 'application/x-amz-json-1.0',
            'x-amzn-requestid': requestId,
            'x-amzn-query-error': `${e.code};${e.type}`,
          })
          .end(
            JSON.stringify({
              __type: `com.amazonaws.cloudwatch#${jsonShapes[e.code] ?? e.code}`,
              message: e.message,
            }),
          )
        return
      }
      res
        .writeHead(e.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId })
        .end(queryErrorXml(namespace, e, requestId))
    }
  }

  private describeAlarms(p: QueryStruct): Out {
    const names = read.strings(p.AlarmNames)
    if (names.length > 100) throw tooLong('alarmNames', 100)
    const prefix = optionalString(p, 'AlarmNamePrefix', 255)
    if (names.length > 0 && prefix !== undefined)
      throw new ApiError(
        'InvalidParameterCombination',
        'AlarmNames and AlarmNamePrefix cannot be used together',
      )
    const state = optionalEnum(p, 'StateValue', states)
    const types = read.strings(p.AlarmTypes)
    for (const type of types) {
      if (type !== 'MetricAlarm' && type !== 'CompositeAlarm')
        throw enumError('alarmTypes', type, ['CompositeAlarm', 'MetricAlarm'])
    }
    const maxRecords = optionalInt(p, 'MaxRecords', 1, 100) ?? 50
    // Without AlarmTypes CloudWatch lists metric alarms only; the emulator has no other kind.
    const wantMetric = types.length === 0 || types.includes('MetricAlarm')
    const matching = wantMetric
      ? [...this.alarms.values()]
          .filter((a) => names.length === 0 || names.includes(a.name))
          .filter((a) => prefix === undefined || a.name.startsWith(prefix))
          .filter((a) => state === undefined || a.state === state)
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      : []
    const page = pageOf(matching, {
      size: maxRecords,
      token: read.string(p.NextToken),
      letter: 'n',
      invalid: () => new ApiError('InvalidNextToken', 'The service returned an invalid NextToken.'),
    })
    return {
      MetricAlarms: page.items.map(alarmOut),
      CompositeAlarms: [],
      NextToken: page.next,
    }
  }

  private putMetricAlarm(p: QueryStruct): Out {
    const name = requiredString(p, 'AlarmName', 255)
    const comparisonOperator = requiredEnum(p, 'ComparisonOperator', comparisons)
    const evaluationPeriods = requiredInt(p, 'EvaluationPeriods', 1)
    if ('Metrics' in p)
      throw new ApiError(
        'ValidationError',
        'The emulator supports single-metric alarms only, not Metrics (metric math)',
      )
    const statistic = optionalEnum(p, 'Statistic', statistics)
    const extendedStatistic = optionalString(p, 'ExtendedStatistic', 255)
    if (statistic !== undefined && extendedStatistic !== undefined)
      throw new ApiError('InvalidParameterCombination', 'Statistic and ExtendedStatistic cannot both be set')
    const metricName = optionalString(p, 'MetricName', 255)
    const metricNamespace = optionalString(p, 'Namespace', 255)
    if (metricName === undefined || metricNamespace === undefined)
      throw new ApiError(
        'ValidationError',
        'MetricName and Namespace must be specified for a single-metric alarm',
      )
    if (statistic === undefined && extendedStatistic === undefined)
      throw new ApiError('ValidationError', 'Either Statistic or ExtendedStatistic must be specified')
    const period = requiredInt(p, 'Period', 1)
    const thresholdText = read.string(p.Threshold)
    const threshold = thresholdText === undefined ? undefined : Number(thresholdText)
    if (threshold === undefined || !Number.isFinite(threshold))
      throw new ApiError(
        'ValidationError',
        'Threshold must be specified as a number for a single-metric alarm',
      )
    const dimensions = read.structs(p.Dimensions).map((d, i) => ({
      Name: requiredString(d, 'Name', 255, `dimensions.${i + 1}.member.name`),
      Value: requiredString(d, 'Value', 1024, `dimensions.${i + 1}.member.value`),
    }))
    if (dimensions.length > 30) throw tooLong('dimensions', 30)
    const actions = (key: string): string[] => {
      const list = read.strings(p[key])
      if (list.length > 5) throw tooLong(key[0].toLowerCase() + key.slice(1), 5)
      return list
    }
    const now = new Date()
    const existing = this.alarms.get(name)
    this.alarms.set(name, {
      name,
      arn: `arn:aws:cloudwatch:${this.region}:${this.accountId}:alarm:${name}`,
      description: optionalString(p, 'AlarmDescription', 1024),
      actionsEnabled: read.bool(p.ActionsEnabled) ?? true,
      okActions: actions('OKActions'),
      alarmActions: actions('AlarmActions'),
      insufficientDataActions: actions('InsufficientDataActions'),
      metricName,
      namespace: metricNamespace,
      statistic,
      extendedStatistic,
      dimensions,
      period,
      unit: optionalString(p, 'Unit', 64),
      evaluationPeriods,
      datapointsToAlarm: optionalInt(p, 'DatapointsToAlarm', 1, Number.MAX_SAFE_INTEGER),
      threshold,
      comparisonOperator,
      treatMissingData: optionalString(p, 'TreatMissingData', 255),
      // An update keeps the alarm's state; a new alarm starts without data, as on AWS.
      state: existing?.state ?? 'INSUFFICIENT_DATA',
      stateReason: existing?.stateReason ?? 'Unchecked: Initial alarm creation',
      stateReasonData: existing?.stateReasonData,
      stateUpdated: existing?.stateUpdated ?? now,
      stateTransitioned: existing?.stateTransitioned ?? now,
      configurationUpdated: now,
    })
    return {}
  }

  private setAlarmState(p: QueryStruct): Out {
    const name = requiredString(p, 'AlarmName', 255)
    const state = requiredEnum(p, 'StateValue', states)
    const reason = p.StateReason
    if (typeof reason !== 'string') throw missing('stateReason')
    if (reason.length > 1023) throw tooLong('stateReason', 1023)
    const data = optionalString(p, 'StateReasonData', 4000)
    if (data !== undefined) {
      try {
        JSON.parse(data)
      } catch {
        throw new ApiError('InvalidFormat', 'StateReasonData is not valid JSON')
      }
    }
    const alarm = this.alarms.get(name)
    if (!alarm) throw new ApiError('ResourceNotFound', `Alarm ${name} not found`, 404)
    const now = new Date()
    if (alarm.state !== state) alarm.stateTransitioned = now
    alarm.state = state
    alarm.stateReason = reason
    alarm.stateReasonData = data
    alarm.stateUpdated = now
    return {}
  }

  private deleteAlarms(p: QueryStruct): Out {
    const names = read.strings(p.AlarmNames)
    if (names.length === 0) throw missing('alarmNames')
    if (names.length > 100) throw tooLong('alarmNames', 100)
    const unknown = names.filter((n) => !this.alarms.has(n))
    if (unknown.length > 0) throw new ApiError('ResourceNotFound', `${unknown.join(', ')} not found`, 404)
    for (const n of names) this.alarms.delete(n)
    return {}
  }
}

/** A response tree; Dates become ISO text in XML and epoch seconds in JSON. */
type Out = string | number | boolean | Date | undefined | Out[] | { [key: string]: Out }

function alarmOut(a: AlarmRecord): Out {
  return {
    AlarmName: a.name,
    AlarmArn: a.arn,
    AlarmDescription: a.description,
    AlarmConfigurationUpdatedTimestamp: a.configurationUpdated,
    ActionsEnabled: a.actionsEnabled,
    OKActions: a.okActions,
    AlarmActions: a.alarmActions,
    InsufficientDataActions: a.insufficientDataActions,
    StateValue: a.state,
    StateReason: a.stateReason,
    StateReasonData: a.stateReasonData,
    StateUpdatedTimestamp: a.stateUpdated,
    MetricName: a.metricName,
    Namespace: a.namespace,
    Statistic: a.statistic,
    ExtendedStatistic: a.extendedStatistic,
    Dimensions: a.dimensions,
    Period: a.period,
    Unit: a.unit,
    EvaluationPeriods: a.evaluationPeriods,
    DatapointsToAlarm: a.datapointsToAlarm,
    Threshold: a.threshold,
    ComparisonOperator: a.comparisonOperator,
    TreatMissingData: a.treatMissingData,
    StateTransitionedTimestamp: a.stateTransitioned,
  }
}

function isEmpty(out: Out): boolean {
  return (
    typeof out === 'object' && !(out instanceof Date) && !Array.isArray(out) && Object.keys(out).length === 0
  )
}

function toXmlValue(out: Out): XmlNode {
  if (out instanceof Date) return out.toISOString()
  if (Array.isArray(out)) return out.map(toXmlValue)
  if (out && typeof out === 'object')
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, toXmlValue(v)]))
  return out
}

function toJsonValue(out: Out): unknown {
  if (out instanceof Date) return out.getTime() / 1000
  if (Array.isArray(out)) return out.map(toJsonValue)
  if (out && typeof out === 'object')
    return Object.fromEntries(
      Object.entries(out)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, toJsonValue(v)]),
    )
  return out
}

function fromQuery(form: URLSearchParams): QueryStruct {
  try {
    const params = parseQuery(form)
    delete params.Action
    delete params.Version
    return params
  } catch (error) {
    if (error instanceof QueryParseError) throw new ApiError('MalformedQueryString', error.message)
    throw error
  }
}

/** A JSON body as the tree parseQuery makes, so that one set of readers serves both protocols. */
function fromJson(body: string): QueryStruct {
  let value: unknown
  try {
    value = body.trim() === '' ? {} : JSON.parse(body)
  } catch {
    throw new ApiError('SerializationException', 'The request body is not valid JSON')
  }
  const node = toNode(value, 0)
  if (node === undefined || typeof node === 'string' || Array.isArray(node) || node instanceof Map)
    throw new ApiError('SerializationException', 'The request body must be a JSON object')
  return node
}

function toNode(value: unknown, depth: number): QueryNode | undefined {
  if (depth > 12) throw new ApiError('SerializationException', 'The request body is nested too deeply')
  if (value === null || value === undefined) return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (Array.isArray(value)) return value.map((v) => toNode(v, depth + 1) ?? '')
  if (typeof value === 'object') {
    const struct = Object.create(null) as QueryStruct
    for (const [k, v] of Object.entries(value)) {
      const node = toNode(v, depth + 1)
      if (node !== undefined) struct[k] = node
    }
    return struct
  }
  return undefined
}

// Validation in CloudWatch's words: "1 validation error detected: Value … at 'stateValue' …".
const member = (key: string): string => key[0].toLowerCase() + key.slice(1)

function missing(field: string): ApiError {
  return new ApiError(
    'ValidationError',
    `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`,
  )
}

function tooLong(field: string, max: number): ApiError {
  return new ApiError(
    'ValidationError',
    `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length less than or equal to ${max}`,
  )
}

function enumError(field: string, value: string, allowed: readonly string[]): ApiError {
  return new ApiError(
    'ValidationError',
    `1 validation error detected: Value '${value.slice(0, 64)}' at '${field}' failed to satisfy constraint: Member must satisfy enum value set: [${allowed.join(', ')}]`,
  )
}

function requiredString(p: QueryStruct, key: string, max: number, field = member(key)): string {
  const value = read.string(p[key])
  if (value === undefined) throw missing(field)
  if (value.length > max) throw tooLong(field, max)
  return value
}

function optionalString(p: QueryStruct, key: string, max: number): string | undefined {
  const value = read.string(p[key])
  if (value !== undefined && value.length > max) throw tooLong(member(key), max)
  return value
}

function requiredEnum<T extends string>(p: QueryStruct, key: string, allowed: readonly T[]): T {
  const value = optionalEnum(p, key, allowed)
  if (value === undefined) throw missing(member(key))
  return value
}

function optionalEnum<T extends string>(p: QueryStruct, key: string, allowed: readonly T[]): T | undefined {
  const value = read.string(p[key])
  if (value === undefined) return undefined
  if (!(allowed as readonly string[]).includes(value)) throw enumError(member(key), value, allowed)
  return value as T
}

function requiredInt(p: QueryStruct, key: string, min: number): number {
  const value = optionalInt(p, key, min, Number.MAX_SAFE_INTEGER)
  if (value === undefined) throw missing(member(key))
  return value
}

function optionalInt(p: QueryStruct, key: string, min: number, max: number): number | undefined {
  const raw = p[key]
  if (raw === undefined) return undefined
  const value = read.int(raw)
  if (value === undefined || value < min || value > max)
    throw new ApiError(
      'ValidationError',
      `1 validation error detected: Value '${typeof raw === 'string' ? raw.slice(0, 32) : 'not a number'}' at '${member(key)}' failed to satisfy constraint: Member must have value between ${min} and ${max}`,
    )
  return value
}
