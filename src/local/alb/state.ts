/**
 * The emulator's model of one Application Load Balancer: listeners with their default actions,
 * listener rules, target groups with registered targets and their health. The API server reads
 * and changes it; the data plane and the health checker read it for every request and check.
 *
 * Behaviour that matters to blue-green switching follows AWS:
 * - only target groups referenced by a listener or rule are health-checked; the targets of the
 *   others report `unused` (Target.NotInUse);
 * - a forward to one target group is described with both TargetGroupArn and a one-entry
 *   ForwardConfig; a weighted forward to several only with ForwardConfig;
 * - ClientSecret of an authenticate-oidc action is never described, so a modify must send it
 *   again or say UseExistingClientSecret.
 */
import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import { parseDuration } from '../../format/duration.js'
import { parseHostPort } from '../../format/host-port.js'
import type { AlbActionConfig, AlbConfig } from './config.js'
import { read, type QueryStruct } from './query.js'

/** An error reply in AWS's terms: `code` is the Query error code the SDK maps to its exception class. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly type: 'Sender' | 'Receiver' = 'Sender',
  ) {
    super(message)
  }
}

const validation = (message: string): ApiError => new ApiError('ValidationError', message)

const arnPatterns = {
  listener:
    /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener\/(?:app|net|gwy)\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}\/[0-9a-f]{16}$/,
  rule: /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener-rule\/(?:app|net)\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}\/[0-9a-f]{16}\/[0-9a-f]{16}$/,
  'target group':
    /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
  'load balancer':
    /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer\/(?:app|net|gwy)\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
}

/** A malformed ARN is a ValidationError in ELBv2, not a NotFound: the request could never match. */
export function checkArn(kind: keyof typeof arnPatterns, arn: string): void {
  if (!arnPatterns[kind].test(arn)) {
    const shown = arn.length > 100 ? `${arn.slice(0, 100)}…` : arn
    throw validation(`'${shown}' is not a valid ${kind} ARN`)
  }
}

export type HealthState = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable'

export interface TargetHealthInfo {
  state: HealthState
  reason?: string
  description?: string
}

export interface TargetRecord {
  /** IP address (type ip) or instance id (type instance). */
  id: string
  port: number
  /** The address the emulator connects to. */
  host: string
  /** The load balancer's own address: never checked, never sent a request (Target.IpUnusable). */
  unusable?: boolean
  health: TargetHealthInfo
  successes: number
  failures: number
  drainTimer?: NodeJS.Timeout
}

export interface HealthCheckSettings {
  path: string
  intervalMs: number
  timeoutMs: number
  healthyThreshold: number
  unhealthyThreshold: number
  matcher: string
}

export interface TargetGroupRecord {
  arn: string
  name: string
  targetType: 'ip' | 'instance'
  protocol: 'HTTP'
  port: number
  healthCheck: HealthCheckSettings
  deregistrationDelayMs: number
  targets: Map<string, TargetRecord>
  /** Referenced by a listener or rule, and so health-checked. */
  inUse: boolean
}

export interface RuleRecord {
  arn: string
  priority: number
  conditions: QueryStruct[]
  actions: QueryStruct[]
}

export interface ListenerRecord {
  arn: string
  /** The configured port; 0 until the data plane has bound a free one. */
  port: number
  protocol: 'HTTP'
  defaultActions: QueryStruct[]
  /** The listener's default rule (priority "default") mirrors defaultActions. */
  defaultRuleArn: string
  rules: RuleRecord[]
}

const notInUse: TargetHealthInfo = {
  state: 'unused',
  reason: 'Target.NotInUse',
  description: 'Target group is not configured to receive traffic from the load balancer',
}
const ipUnusable: TargetHealthInfo = {
  state: 'unused',
  reason: 'Target.IpUnusable',
  description: 'The target IP address is reserved for use by a load balancer',
}
const registering: TargetHealthInfo = {
  state: 'initial',
  reason: 'Elb.RegistrationInProgress',
  description: 'Target registration is in progress',
}

const terminalActions = new Set(['forward', 'redirect', 'fixed-response'])
const actionTypes = new Set([
  ...terminalActions,
  'authenticate-oidc',
  'authenticate-cognito',
  'jwt-validation',
])

export class AlbState {
  readonly region: string
  readonly accountId: string
  readonly loadBalancer: { arn: string; name: string; createdTime: Date; dnsName: string }
  readonly listeners: ListenerRecord[] = []
  readonly targetGroups: TargetGroupRecord[] = []
  readonly instances: Record<string, string>
  private readonly subscribers: (() => void)[] = []
  /** host:port of the emulator's own listeners and API, which targets may not use. */
  private readonly reserved = new Set<string>()

  constructor(config: AlbConfig) {
    this.region = config.region
    this.accountId = config.accountId
    this.instances = config.instances
    const lbName = config.loadBalancer.name
    const lbId = stableId(`loadbalancer/${lbName}`)
    this.loadBalancer = {
      arn: this.arn(`loadbalancer/app/${lbName}/${lbId}`),
      name: lbName,
      createdTime: new Date(),
      dnsName: `${lbName}-${lbId.slice(0, 10)}.${config.region}.elb.localhost`,
    }
    for (const tg of config.targetGroups) {
      const record: TargetGroupRecord = {
        arn: this.arn(`targetgroup/${tg.name}/${stableId(`targetgroup/${tg.name}`)}`),
        name: tg.name,
        targetType: tg.targetType,
        protocol: tg.protocol,
        port: tg.port,
        healthCheck: {
          path: tg.healthCheck.path,
          intervalMs: parseDuration(tg.healthCheck.interval),
          timeoutMs: parseDuration(tg.healthCheck.timeout),
          healthyThreshold: tg.healthCheck.healthyThreshold,
          unhealthyThreshold: tg.healthCheck.unhealthyThreshold,
          matcher: tg.healthCheck.matcher,
        },
        deregistrationDelayMs: parseDuration(tg.deregistrationDelay),
        targets: new Map(),
        inUse: false,
      }
      this.targetGroups.push(record)
    }
    const tgArn = (name: string): string => this.targetGroups.find((tg) => tg.name === name)!.arn
    config.listeners.forEach((listener, index) => {
      const listenerPath = `${lbName}/${lbId}/${stableId(`listener/${lbName}/${index}`)}`
      const arn = this.arn(`listener/app/${listenerPath}`)
      const record: ListenerRecord = {
        arn,
        port: listener.port,
        protocol: listener.protocol,
        defaultActions: normalizeActions(
          [actionFromConfig(listener.defaultAction, tgArn)],
          [],
          'DefaultActions',
          this,
        ),
        defaultRuleArn: this.arn(`listener-rule/app/${listenerPath}/${stableId(`rule/${arn}/default`)}`),
        rules: listener.rules.map((rule) => ({
          arn: this.arn(`listener-rule/app/${listenerPath}/${stableId(`rule/${arn}/${rule.priority}`)}`),
          priority: rule.priority,
          conditions: conditionsFromConfig(rule),
          actions: normalizeActions([actionFromConfig(rule.action, tgArn)], [], 'Actions', this),
        })),
      }
      record.rules.sort((a, b) => a.priority - b.priority)
      this.listeners.push(record)
    })
    this.updateUsage()
    for (const [i, tg] of config.targetGroups.entries()) {
      const arn = this.targetGroups[i].arn
      this.registerTargets(arn, this.prepareTargets(arn, tg.targets.map(targetOf)))
    }
  }

  /** Marks the emulator's own addresses, once bound: a target there would loop requests back. */
  reserveAddresses(addresses: { host: string; port: number }[]): void {
    for (const { host, port } of addresses) this.reserved.add(`${host}:${port}`)
    for (const tg of this.targetGroups) {
      for (const target of tg.targets.values()) {
        if (!target.unusable && this.isReserved(target.host, target.port)) {
          target.unusable = true
          target.health = ipUnusable
        }
      }
    }
    this.changed()
  }

  private isReserved(host: string, port: number): boolean {
    for (const entry of this.reserved) {
      const at = entry.lastIndexOf(':')
      const [rHost, rPort] = [entry.slice(0, at), Number(entry.slice(at + 1))]
      if (rPort !== port) continue
      if (rHost === host || rHost === '0.0.0.0' || rHost === '::' || (isLoopback(rHost) && isLoopback(host)))
        return true
    }
    return false
  }

  private arn(resource: string): string {
    return `arn:aws:elasticloadbalancing:${this.region}:${this.accountId}:${resource}`
  }

  targetGroup(arn: string): TargetGroupRecord {
    checkArn('target group', arn)
    const tg = this.targetGroups.find((t) => t.arn === arn)
    if (!tg) throw new ApiError('TargetGroupNotFound', `Target groups '${arn}' not found`)
    return tg
  }

  hasTargetGroup(arn: string): boolean {
    checkArn('target group', arn)
    return this.targetGroups.some((t) => t.arn === arn)
  }

  listener(arn: string): ListenerRecord {
    checkArn('listener', arn)
    const listener = this.listeners.find((l) => l.arn === arn)
    if (!listener) throw new ApiError('ListenerNotFound', `One or more listeners not found`)
    return listener
  }

  /** A rule by ARN, the listener's default rule included. */
  rule(arn: string): { listener: ListenerRecord; rule: RuleRecord | 'default' } {
    checkArn('rule', arn)
    for (const listener of this.listeners) {
      if (listener.defaultRuleArn === arn) return { listener, rule: 'default' }
      const rule = listener.rules.find((r) => r.arn === arn)
      if (rule) return { listener, rule }
    }
    throw new ApiError('RuleNotFound', 'One or more rules not found')
  }

  checkLoadBalancer(arn: string): void {
    checkArn('load balancer', arn)
    if (arn !== this.loadBalancer.arn)
      throw new ApiError('LoadBalancerNotFound', 'One or more load balancers not found')
  }

  /** Validates and normalizes new default actions for a listener; changes nothing. */
  prepareListenerActions(arn: string, actions: QueryStruct[]): QueryStruct[] {
    const listener = this.listener(arn)
    return normalizeActions(actions, listener.defaultActions, 'DefaultActions', this)
  }

  setListenerActions(arn: string, actions: QueryStruct[]): void {
    this.listener(arn).defaultActions = actions
    this.changed()
  }

  /** Validates a ModifyRule; changes nothing. */
  prepareRule(
    arn: string,
    actions: QueryStruct[] | undefined,
    conditions: QueryStruct[] | undefined,
  ): { listener: ListenerRecord; rule: RuleRecord; next: RuleRecord } {
    const { listener, rule } = this.rule(arn)
    if (rule === 'default') {
      throw new ApiError(
        'OperationNotPermitted',
        'Default rule cannot be modified; use ModifyListener to change the default actions',
      )
    }
    const next: RuleRecord = {
      ...rule,
      actions: actions ? normalizeActions(actions, rule.actions, 'Actions', this) : rule.actions,
      conditions: conditions ? normalizeConditions(conditions) : rule.conditions,
    }
    return { listener, rule, next }
  }

  setRule(arn: string, next: RuleRecord): void {
    const { listener } = this.rule(arn)
    listener.rules = listener.rules.map((r) => (r.arn === arn ? next : r))
    this.changed()
  }

  /** Validates every target of a RegisterTargets before any is added (all or nothing). */
  prepareTargets(tgArn: string, targets: { id: string; port?: number }[]): PreparedTarget[] {
    const tg = this.targetGroup(tgArn)
    if (targets.length > 1000)
      throw new ApiError('TooManyTargets', 'You have reached the limit on the number of targets')
    return targets.map((target) => {
      const port = target.port ?? tg.port
      const host = tg.targetType === 'ip' ? target.id : this.instances[target.id]
      if (!host || (tg.targetType === 'ip' && isIP(target.id) === 0) || port < 1 || port > 65535) {
        throw new ApiError(
          'InvalidTarget',
          `The following targets are not valid: ${shorten(target.id)}:${port}`,
        )
      }
      return { id: target.id, port, host }
    })
  }

  registerTargets(tgArn: string, targets: PreparedTarget[]): void {
    const tg = this.targetGroup(tgArn)
    for (const { id, port, host } of targets) {
      const key = `${id}:${port}`
      const existing = tg.targets.get(key)
      if (existing && existing.health.state !== 'draining') continue
      if (existing?.drainTimer) clearTimeout(existing.drainTimer)
      const unusable = this.isReserved(host, port)
      tg.targets.set(key, {
        id,
        port,
        host,
        unusable,
        health: unusable ? ipUnusable : tg.inUse ? registering : notInUse,
        successes: 0,
        failures: 0,
      })
    }
    this.changed()
  }

  checkDeregistration(tgArn: string, targets: { id: string; port?: number }[]): void {
    const tg = this.targetGroup(tgArn)
    const missing = targets.map((t) => `${t.id}:${t.port ?? tg.port}`).filter((key) => !tg.targets.has(key))
    if (missing.length > 0)
      throw new ApiError(
        'InvalidTarget',
        `The following targets are not registered: ${missing.slice(0, 5).map(shorten).join(', ')}`,
      )
  }

  deregisterTargets(tgArn: string, targets: { id: string; port?: number }[]): void {
    this.checkDeregistration(tgArn, targets)
    const tg = this.targetGroup(tgArn)
    const keys = targets.map((t) => `${t.id}:${t.port ?? tg.port}`)
    for (const key of keys) {
      const target = tg.targets.get(key)!
      if (target.health.state === 'draining') continue
      if (tg.deregistrationDelayMs === 0 || !tg.inUse) {
        tg.targets.delete(key)
        continue
      }
      // Draining: no new requests, and gone once the deregistration delay has passed.
      target.health = {
        state: 'draining',
        reason: 'Target.DeregistrationInProgress',
        description: 'Target deregistration is in progress',
      }
      target.drainTimer = setTimeout(() => {
        if (tg.targets.get(key) === target) tg.targets.delete(key)
      }, tg.deregistrationDelayMs)
      target.drainTimer.unref()
    }
    this.changed()
  }

  /** Records one health check result and moves the target along initial → healthy / unhealthy. */
  recordHealthCheck(
    tg: TargetGroupRecord,
    target: TargetRecord,
    failure?: { reason: string; description: string },
  ): void {
    if (!tg.inUse || tg.targets.get(`${target.id}:${target.port}`) !== target) return
    if (target.health.state === 'draining' || target.health.state === 'unused' || target.unusable) return
    if (!failure) {
      target.successes++
      target.failures = 0
      if (target.health.state !== 'healthy' && target.successes >= tg.healthCheck.healthyThreshold) {
        target.health = { state: 'healthy' }
      } else if (target.health.state === 'initial') {
        target.health = {
          state: 'initial',
          reason: 'Elb.InitialHealthChecking',
          description: 'Initial health checks in progress',
        }
      }
      return
    }
    target.failures++
    target.successes = 0
    if (target.health.state === 'unhealthy' || target.failures >= tg.healthCheck.unhealthyThreshold) {
      target.health = { state: 'unhealthy', ...failure }
    } else if (target.health.state === 'initial') {
      target.health = {
        state: 'initial',
        reason: 'Elb.InitialHealthChecking',
        description: 'Initial health checks in progress',
      }
    }
  }

  /** Target groups that some listener or rule forwards to (weight 0 included). */
  usedTargetGroupArns(): Set<string> {
    const used = new Set<string>()
    const actionLists = this.listeners.flatMap((l) => [l.defaultActions, ...l.rules.map((r) => r.actions)])
    for (const actions of actionLists) {
      for (const action of actions) for (const { arn } of forwardTargets(action)) used.add(arn)
    }
    return used
  }

  /** Calls `fn` after every change of actions or targets. */
  subscribe(fn: () => void): void {
    this.subscribers.push(fn)
  }

  private changed(): void {
    this.updateUsage()
    for (const fn of this.subscribers) fn()
  }

  /**
   * ELBv2 health-checks only target groups that something references. A group that becomes
   * referenced starts from `initial`; one that stops being referenced reports `unused`.
   */
  private updateUsage(): void {
    const used = this.usedTargetGroupArns()
    for (const tg of this.targetGroups) {
      const inUse = used.has(tg.arn)
      if (inUse === tg.inUse) continue
      tg.inUse = inUse
      for (const target of tg.targets.values()) {
        if (target.health.state === 'draining' || target.unusable) continue
        target.health = inUse ? registering : notInUse
        target.successes = 0
        target.failures = 0
      }
    }
  }
}

export interface PreparedTarget {
  id: string
  port: number
  host: string
}

/** `host:port`, `[v6]:port` or `v6:port` (the last colon splits) from the config. */
function targetOf(text: string): { id: string; port: number } {
  const { address, port } = parseHostPort(text)
  return { id: address, port }
}

function isLoopback(host: string): boolean {
  return host === '::1' || host === 'localhost' || /^127\./.test(host) || host === '::ffff:127.0.0.1'
}

function shorten(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text
}

/** ELBv2's condition fields, the config each one has, and its limits. */
const conditionConfigs: Record<string, string> = {
  'host-header': 'HostHeaderConfig',
  'path-pattern': 'PathPatternConfig',
  'http-header': 'HttpHeaderConfig',
  'http-request-method': 'HttpRequestMethodConfig',
  'query-string': 'QueryStringConfig',
  'source-ip': 'SourceIpConfig',
}
const singleUse = new Set(['host-header', 'path-pattern', 'http-request-method', 'source-ip'])
/** AWS quota: condition values per rule. */
const maxConditionValues = 5

/**
 * Validates rule conditions as ELBv2 does and stores them as it describes them: with both the
 * legacy Values and the typed config for host-header and path-pattern.
 */
export function normalizeConditions(conditions: QueryStruct[]): QueryStruct[] {
  if (conditions.length === 0) throw validation('A rule must have at least one condition')
  const seen = new Set<string>()
  let values = 0
  const normalized = conditions.map((condition, i) => {
    const path = `Conditions.member.${i + 1}`
    const field = read.string(condition.Field)
    if (!field || !Object.hasOwn(conditionConfigs, field)) {
      throw validation(
        `1 validation error detected: Value at '${path}.field' failed to satisfy constraint: Member must be one of [${Object.keys(conditionConfigs).join(', ')}]`,
      )
    }
    if (singleUse.has(field) && seen.has(field))
      throw validation(`A rule can have only one '${field}' condition`)
    seen.add(field)
    const configName = conditionConfigs[field]
    for (const other of Object.values(conditionConfigs))
      if (other !== configName && other in condition)
        throw validation(`${path}: ${other} does not go with Field '${field}'`)
    const config = read.struct(condition[configName])
    const legacy = read.strings(condition.Values)
    let count: number
    if (field === 'http-header') {
      if (!read.string(config?.HttpHeaderName))
        throw validation(`${path}.HttpHeaderConfig needs HttpHeaderName`)
      count = read.strings(config?.Values).length
    } else if (field === 'query-string') {
      const pairs = read.structs(config?.Values)
      if (pairs.some((p) => !read.string(p.Value)))
        throw validation(`${path}.QueryStringConfig: every key/value pair needs a Value`)
      count = pairs.length
    } else {
      const typed = read.strings(config?.Values)
      if (typed.length > 0 && legacy.length > 0 && typed.join('\n') !== legacy.join('\n'))
        throw validation(`${path}: Values and ${configName}.Values differ; give one of them`)
      count = Math.max(typed.length, legacy.length)
      const list = typed.length > 0 ? typed : legacy
      if (list.some((v) => v.length > 128))
        throw validation(`${path}: a condition value can be at most 128 characters`)
      if (field === 'path-pattern' || field === 'host-header')
        return { Field: field, Values: list, [configName]: { Values: list } }
    }
    if (count === 0) throw validation(`${path}: a '${field}' condition needs at least one value`)
    values += count
    return condition
  })
  for (const condition of normalized) {
    const field = read.string(condition.Field)
    if (field === 'path-pattern' || field === 'host-header') values += read.strings(condition.Values).length
  }
  if (values > maxConditionValues)
    throw validation(`A rule can have at most ${maxConditionValues} condition values; this one has ${values}`)
  return normalized
}

/** The target groups and weights of a forward action (empty for other actions). */
export function forwardTargets(action: QueryStruct): { arn: string; weight: number }[] {
  if (action.Type !== 'forward') return []
  const config = read.struct(action.ForwardConfig)
  return read.structs(config?.TargetGroups).map((tuple) => ({
    arn: read.string(tuple.TargetGroupArn) ?? '',
    weight: read.int(tuple.Weight) ?? 1,
  }))
}

/** Deterministic ids, so the same config gives the same ARNs after a restart. */
function stableId(seed: string): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, 16)
}

function actionFromConfig(action: AlbActionConfig, tgArn: (name: string) => string): QueryStruct {
  if ('targetGroup' in action) return { Type: 'forward', TargetGroupArn: tgArn(action.targetGroup) }
  if ('fixedResponse' in action) {
    return {
      Type: 'fixed-response',
      FixedResponseConfig: {
        StatusCode: String(action.fixedResponse.statusCode),
        ContentType: action.fixedResponse.contentType,
        MessageBody: action.fixedResponse.body,
      },
    }
  }
  return {
    Type: 'forward',
    ForwardConfig: {
      TargetGroups: action.forward.map((w) => ({
        TargetGroupArn: tgArn(w.targetGroup),
        Weight: String(w.weight),
      })),
      TargetGroupStickinessConfig: action.stickiness
        ? { Enabled: 'true', DurationSeconds: String(action.stickiness.durationSeconds) }
        : { Enabled: 'false' },
    },
  }
}

function conditionsFromConfig(rule: { pathPattern?: string[]; hostHeader?: string[] }): QueryStruct[] {
  const conditions: QueryStruct[] = []
  // AWS describes each condition with both the legacy Values and the typed config.
  if (rule.pathPattern) {
    conditions.push({
      Field: 'path-pattern',
      Values: rule.pathPattern,
      PathPatternConfig: { Values: rule.pathPattern },
    })
  }
  if (rule.hostHeader) {
    conditions.push({
      Field: 'host-header',
      Values: rule.hostHeader,
      HostHeaderConfig: { Values: rule.hostHeader },
    })
  }
  if (conditions.length === 0)
    conditions.push({ Field: 'path-pattern', Values: ['*'], PathPatternConfig: { Values: ['*'] } })
  return conditions
}

/**
 * Validates an action list the way ELBv2 does and stores it in the shape ELBv2 describes it.
 * `previous` supplies the OIDC client secret when the request says UseExistingClientSecret.
 */
export function normalizeActions(
  actions: QueryStruct[],
  previous: QueryStruct[],
  param: string,
  state: Pick<AlbState, 'hasTargetGroup'>,
): QueryStruct[] {
  if (actions.length === 0) throw validation(`${param} must contain at least one action`)
  if (actions.length > 1 && actions.some((a) => read.int(a.Order) === undefined)) {
    throw validation(`${param}: every action needs an Order when there is more than one`)
  }
  const normalized = actions.map((action, i) =>
    normalizeAction(action, i, previous, `${param}.member.${i + 1}`, state),
  )
  const orders = normalized.map((a) => Number(a.Order))
  if (new Set(orders).size !== orders.length) {
    throw new ApiError('InvalidLoadBalancerAction', 'The action orders must be unique')
  }
  normalized.sort((a, b) => Number(a.Order) - Number(b.Order))
  const terminal = normalized.filter((a) => terminalActions.has(read.string(a.Type) ?? ''))
  if (terminal.length !== 1 || terminal[0] !== normalized.at(-1)) {
    throw new ApiError(
      'InvalidLoadBalancerAction',
      'The last action must be forward, redirect or fixed-response, and there must be exactly one of them',
    )
  }
  return normalized
}

function normalizeAction(
  action: QueryStruct,
  index: number,
  previous: QueryStruct[],
  path: string,
  state: Pick<AlbState, 'hasTargetGroup'>,
): QueryStruct {
  const type = read.string(action.Type)
  if (!type || !actionTypes.has(type)) {
    throw validation(
      `1 validation error detected: Value '${type ?? 'null'}' at '${path}.type' failed to satisfy constraint: ` +
        `Member must satisfy enum value set: [${[...actionTypes].join(', ')}]`,
    )
  }
  const order = read.int(action.Order) ?? index + 1
  if (order < 1 || order > 50000) throw validation(`${path}.Order must be between 1 and 50000`)
  const base: QueryStruct = { ...action, Type: type, Order: String(order) }
  switch (type) {
    case 'forward':
      return { ...base, ...normalizeForward(action, path, state) }
    case 'fixed-response': {
      const config = read.struct(action.FixedResponseConfig)
      if (!config || !/^[245]\d\d$/.test(read.string(config.StatusCode) ?? '')) {
        throw validation(`${path}.FixedResponseConfig.StatusCode must be a 2XX, 4XX or 5XX code`)
      }
      return base
    }
    case 'redirect': {
      const config = read.struct(action.RedirectConfig)
      if (!config || !['HTTP_301', 'HTTP_302'].includes(read.string(config.StatusCode) ?? '')) {
        throw validation(`${path}.RedirectConfig.StatusCode must be HTTP_301 or HTTP_302`)
      }
      return base
    }
    case 'authenticate-oidc': {
      const config = read.struct(action.AuthenticateOidcConfig)
      const required = ['Issuer', 'AuthorizationEndpoint', 'TokenEndpoint', 'UserInfoEndpoint', 'ClientId']
      const missing = required.filter((key) => !read.string(config?.[key]))
      if (!config || missing.length > 0)
        throw validation(`${path}.AuthenticateOidcConfig needs ${missing.join(', ')}`)
      const { UseExistingClientSecret: useExisting, ...rest } = config
      let secret = read.string(config.ClientSecret)
      if (!secret && read.bool(useExisting)) {
        const old = previous.find((a) => a.Type === 'authenticate-oidc')
        secret = read.string(read.struct(old?.AuthenticateOidcConfig)?.ClientSecret)
      }
      if (!secret) {
        throw validation(
          `${path}.AuthenticateOidcConfig: ClientSecret is required unless UseExistingClientSecret is true`,
        )
      }
      return { ...base, AuthenticateOidcConfig: { ...rest, ClientSecret: secret } }
    }
    case 'authenticate-cognito': {
      const config = read.struct(action.AuthenticateCognitoConfig)
      const missing = ['UserPoolArn', 'UserPoolClientId', 'UserPoolDomain'].filter(
        (key) => !read.string(config?.[key]),
      )
      if (!config || missing.length > 0)
        throw validation(`${path}.AuthenticateCognitoConfig needs ${missing.join(', ')}`)
      return base
    }
    default:
      return base
  }
}

function normalizeForward(
  action: QueryStruct,
  path: string,
  state: Pick<AlbState, 'hasTargetGroup'>,
): QueryStruct {
  const single = read.string(action.TargetGroupArn)
  const config = read.struct(action.ForwardConfig)
  const tuples = read.structs(config?.TargetGroups)
  if (!single && tuples.length === 0)
    throw validation(`${path}: a forward action needs TargetGroupArn or ForwardConfig.TargetGroups`)
  if (
    single &&
    tuples.length > 0 &&
    (tuples.length !== 1 || read.string(tuples[0].TargetGroupArn) !== single)
  ) {
    throw validation(
      `${path}: with both TargetGroupArn and ForwardConfig, ForwardConfig must hold exactly that one target group`,
    )
  }
  // With several target groups ELBv2 needs a weight for each; one alone defaults to 1.
  if (tuples.length > 1 && tuples.some((tuple) => read.int(tuple.Weight) === undefined))
    throw validation(
      `${path}.ForwardConfig.TargetGroups: with more than one target group, each needs a Weight`,
    )
  const groups =
    tuples.length > 0
      ? tuples.map((tuple) => ({
          arn: read.string(tuple.TargetGroupArn) ?? '',
          weight: read.int(tuple.Weight) ?? 1,
        }))
      : [{ arn: single!, weight: 1 }]
  if (groups.length > 5) throw validation(`${path}: a forward action can have at most 5 target groups`)
  for (const group of groups) {
    if (!group.arn) throw validation(`${path}.ForwardConfig.TargetGroups: every entry needs a TargetGroupArn`)
    if (group.weight < 0 || group.weight > 999) throw validation(`${path}: weights must be between 0 and 999`)
    if (!state.hasTargetGroup(group.arn))
      throw new ApiError('TargetGroupNotFound', `Target groups '${group.arn}' not found`)
  }
  if (new Set(groups.map((g) => g.arn)).size !== groups.length) {
    throw validation(`${path}: a target group can appear only once in a forward action`)
  }
  const stickiness = read.struct(config?.TargetGroupStickinessConfig)
  const enabled = read.bool(stickiness?.Enabled) ?? false
  const duration = read.int(stickiness?.DurationSeconds)
  if (stickiness?.Enabled !== undefined && read.bool(stickiness.Enabled) === undefined)
    throw validation(`${path}: TargetGroupStickinessConfig.Enabled must be true or false`)
  if (enabled && (duration === undefined || duration < 1 || duration > 604800)) {
    throw validation(`${path}: stickiness needs DurationSeconds between 1 and 604800`)
  }
  const forward: QueryStruct = {
    ForwardConfig: {
      TargetGroups: groups.map((g) => ({ TargetGroupArn: g.arn, Weight: String(g.weight) })),
      TargetGroupStickinessConfig: enabled
        ? { Enabled: 'true', DurationSeconds: String(duration) }
        : { Enabled: 'false' },
    },
  }
  if (groups.length === 1) forward.TargetGroupArn = groups[0].arn
  return forward
}
