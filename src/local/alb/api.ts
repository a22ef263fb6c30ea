/**
 * The emulator's control plane: the ELBv2 Query API (version 2015-12-01) for the calls bluegreen
 * makes, answered in the XML shapes and with the error codes that AWS documents, so that the real
 * AWS SDK parses the answers into its own output types and exception classes.
 *
 * Also an admin endpoint for fault drills, outside the AWS API:
 *   POST   /_emulator/faults  {"mode":"5xx"|"throttle"|"slow"|"denied"|"stale","count":N,"delayMs":N,"actions":[…]}
 *          mode stale: ELBv2's eventual consistency. For `delayMs` after each of the next `count`
 *          writes (ModifyListener, ModifyRule), Describe calls still show the actions as they were
 *          before that write. The data plane follows the write at once.
 *   DELETE /_emulator/faults  clears queued faults
 *   GET    /_emulator/state   listeners, weights and target health as JSON
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as z from 'zod'
import { CloudWatchApi } from './cloudwatch.js'
import { Ec2Api } from './ec2.js'
import { asApiError, pageOf, queryErrorXml } from './aws-replies.js'
import { parseQuery, QueryParseError, read, toXml, type QueryStruct, type XmlStruct } from './query.js'
import { validateInput } from './validate.js'
import {
  ApiError,
  forwardTargets,
  type AlbState,
  type ListenerRecord,
  type RuleRecord,
  type TargetGroupRecord,
  type TargetRecord,
} from './state.js'
import { sleep } from '../../sleep.js'

const namespace = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/'
const vpcId = 'vpc-0e1a0c0a1b0c0d0e0'

export const Fault = z.strictObject({
  mode: z.enum(['5xx', 'throttle', 'slow', 'denied', 'stale']),
  count: z.int().min(1).default(1).describe('How many API calls (for stale: writes) it affects'),
  delayMs: z
    .int()
    .min(0)
    .default(2000)
    .describe('For mode slow: how long each affected call waits; for stale: how long reads lag a write'),
  actions: z.array(z.string()).optional().describe('Only these API actions (default: all)'),
})
export type Fault = z.infer<typeof Fault>
export type FaultInput = z.input<typeof Fault>

/** What a handler answers: the result, and for a write the change to make once the reply is ready. */
interface Answer {
  result: XmlStruct
  commit?: () => void
}
type Handler = (params: QueryStruct) => Answer

/** AWS answers 413 above this; the emulator reads no further. */
export const maxBodyBytes = 1024 * 1024

class BodyTooLarge extends Error {}

export class ApiServer {
  private server?: Server
  private faults: Fault[] = []
  /** Actions that Describe still shows (mode stale), by listener or rule ARN, until a time. */
  private readonly staleViews = new Map<string, { actions: QueryStruct[]; until: number }>()
  /** A Map, not an object: `constructor`, `toString` or `__proto__` are no actions. */
  private readonly handlers: Map<string, Handler>
  private readonly ec2: Ec2Api
  /** CloudWatch alarms (both of its protocols) share the endpoint, for verify's cloudwatchAlarms. */
  readonly cloudwatch: CloudWatchApi

  constructor(private readonly state: AlbState) {
    const reads =
      (fn: (p: QueryStruct) => XmlStruct): Handler =>
      (p) => ({ result: fn(p) })
    this.handlers = new Map<string, Handler>([
      ['DescribeLoadBalancers', reads((p) => this.describeLoadBalancers(p))],
      ['DescribeListeners', reads((p) => this.describeListeners(p))],
      ['DescribeRules', reads((p) => this.describeRules(p))],
      ['DescribeTargetGroups', reads((p) => this.describeTargetGroups(p))],
      ['DescribeTargetHealth', reads((p) => this.describeTargetHealth(p))],
      ['ModifyListener', (p) => this.modifyListener(p)],
      ['ModifyRule', (p) => this.modifyRule(p)],
      ['RegisterTargets', (p) => this.registerTargets(p)],
      ['DeregisterTargets', (p) => this.deregisterTargets(p)],
    ])
    this.ec2 = new Ec2Api(state)
    this.cloudwatch = new CloudWatchApi(state.region, state.accountId, (action) => this.applyFault(action))
  }

  async start(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.server = server
    const address = server.address() as AddressInfo
    return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  /** Queues a fault: the next `count` matching API calls fail (or wait) as asked. */
  injectFault(input: FaultInput): Fault {
    const fault = Fault.parse(input)
    this.faults.push(fault)
    return fault
  }

  clearFaults(): void {
    this.faults = []
    this.staleViews.clear()
  }

  /** After a write: with a stale fault queued, Describe keeps showing `previous` for a while. */
  private lagReads(arn: string, previous: QueryStruct[]): void {
    const fault = this.faults.find((f) => f.mode === 'stale')
    if (!fault) return
    if (--fault.count <= 0) this.faults.splice(this.faults.indexOf(fault), 1)
    const shown = this.staleViews.get(arn)
    const actions = shown && shown.until > Date.now() ? shown.actions : previous
    this.staleViews.set(arn, { actions, until: Date.now() + fault.delayMs })
  }

  /** The actions Describe shows for a listener or rule: the stored ones, unless reads lag. */
  private described(arn: string, actions: QueryStruct[]): QueryStruct[] {
    const shown = this.staleViews.get(arn)
    if (!shown) return actions
    if (shown.until > Date.now()) return shown.actions
    this.staleViews.delete(arn)
    return actions
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID()
    try {
      const body = await readBody(req)
      const url = new URL(req.url ?? '/', 'http://emulator')
      if (url.pathname.startsWith('/_emulator/'))
        return this.admin(req.method ?? 'GET', url.pathname, body, res)
      const form = new URLSearchParams(url.search)
      for (const [key, value] of new URLSearchParams(body)) form.append(key, value)
      if (this.cloudwatch.accepts(req.headers, form))
        return await this.cloudwatch.handle(req.headers, body, form, requestId, res)
      const action = form.get('Action')
      if (!action) throw new ApiError('MissingAction', 'The request must contain the parameter Action')
      // EC2's DescribeInstances shares the endpoint, for instance targets' private IPs.
      if (action === 'DescribeInstances' && form.get('Version') === Ec2Api.version) {
        await this.applyFault(action)
        return this.ec2.handle(form, requestId, res)
      }
      const handler = this.handlers.get(action)
      if (!handler) throw new ApiError('InvalidAction', 'The action or operation requested is not valid.')
      await this.applyFault(action)
      let params: QueryStruct
      try {
        params = parseQuery(form)
      } catch (error) {
        if (error instanceof QueryParseError) throw new ApiError('MalformedQueryString', error.message)
        throw error
      }
      validateInput(action, params)
      const { result, commit } = handler(params)
      // The reply is written before the change is made: a request that fails on the way changes nothing.
      const xml =
        `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${namespace}">` +
        toXml(`${action}Result`, result) +
        `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
      commit?.()
      res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }).end(xml)
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        const apiError = new ApiError(
          'RequestEntityTooLarge',
          `Request body exceeds ${maxBodyBytes} bytes`,
          413,
        )
        return this.errorReply(res, apiError, requestId, true)
      }
      this.errorReply(res, asApiError(error), requestId, false)
    }
  }

  private errorReply(res: ServerResponse, apiError: ApiError, requestId: string, close: boolean): void {
    const xml = queryErrorXml(namespace, apiError, requestId)
    if (!res.headersSent)
      res.writeHead(apiError.status, {
        'content-type': 'text/xml',
        'x-amzn-requestid': requestId,
        ...(close ? { connection: 'close' } : {}),
      })
    res.end(xml)
  }

  private async applyFault(action: string): Promise<void> {
    const fault = this.faults.find((f) => f.mode !== 'stale' && (!f.actions || f.actions.includes(action)))
    if (!fault) return
    if (--fault.count <= 0) this.faults.splice(this.faults.indexOf(fault), 1)
    switch (fault.mode) {
      case 'slow':
        await sleep(fault.delayMs)
        return
      case '5xx':
        throw new ApiError('InternalFailure', 'An internal error has occurred. Try again.', 500, 'Receiver')
      case 'throttle':
        throw new ApiError('Throttling', 'Rate exceeded', 400)
      case 'stale':
        return
      case 'denied':
        throw new ApiError(
          'AccessDenied',
          `User: arn:aws:iam::${this.state.accountId}:user/emulator is not authorized to perform: ` +
            `elasticloadbalancing:${action} because no identity-based policy allows the elasticloadbalancing:${action} action`,
          403,
        )
    }
  }

  private admin(method: string, path: string, body: string, res: ServerResponse): void {
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value) + '\n')
    }
    if (path === '/_emulator/faults' && method === 'POST') {
      let input: unknown
      try {
        input = JSON.parse(body)
      } catch {
        return json(400, { error: 'expected a JSON body such as {"mode":"throttle","count":3}' })
      }
      const parsed = Fault.safeParse(input)
      if (!parsed.success)
        return json(400, { error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) })
      this.faults.push(parsed.data)
      return json(200, { queued: this.faults })
    }
    if (path === '/_emulator/faults' && method === 'DELETE') {
      this.clearFaults()
      return json(200, { queued: [] })
    }
    if (path === '/_emulator/faults' && method === 'GET') return json(200, { queued: this.faults })
    if (path === '/_emulator/state' && method === 'GET') return json(200, snapshot(this.state))
    json(404, { error: `no ${method} ${path}; try POST /_emulator/faults or GET /_emulator/state` })
  }

  private describeLoadBalancers(params: QueryStruct): XmlStruct {
    const lb = this.state.loadBalancer
    for (const arn of read.strings(params.LoadBalancerArns)) this.state.checkLoadBalancer(arn)
    for (const name of read.strings(params.Names)) {
      if (name !== lb.name) throw new ApiError('LoadBalancerNotFound', `Load balancers '[${name}]' not found`)
    }
    const page = paginate([lb], params)
    return {
      LoadBalancers: page.items.map(() => ({
        LoadBalancerArn: lb.arn,
        DNSName: lb.dnsName,
        CanonicalHostedZoneId: 'Z35SXDOTRQ7X7K',
        CreatedTime: lb.createdTime.toISOString(),
        LoadBalancerName: lb.name,
        Scheme: 'internet-facing',
        VpcId: vpcId,
        State: { Code: 'active' },
        Type: 'application',
        AvailabilityZones: ['a', 'b'].map((zone, i) => ({
          ZoneName: `${this.state.region}${zone}`,
          SubnetId: `subnet-0${i}0000000000000000`,
        })),
        SecurityGroups: ['sg-00000000000000000'],
        IpAddressType: 'ipv4',
      })),
      NextMarker: page.nextMarker,
    }
  }

  private describeListeners(params: QueryStruct): XmlStruct {
    const arns = read.strings(params.ListenerArns)
    const lbArn = read.string(params.LoadBalancerArn)
    if (arns.length > 0 && lbArn)
      throw new ApiError(
        'ValidationError',
        'Listener ARNs and a load balancer ARN cannot be specified at the same time',
      )
    let listeners: ListenerRecord[]
    if (arns.length > 0) listeners = arns.map((arn) => this.state.listener(arn))
    else if (lbArn) {
      this.state.checkLoadBalancer(lbArn)
      listeners = this.state.listeners
    } else
      throw new ApiError('ValidationError', 'You must specify either listener ARNs or a load balancer ARN')
    const page = paginate(listeners, params)
    return { Listeners: page.items.map((l) => this.listenerXml(l)), NextMarker: page.nextMarker }
  }

  private describeRules(params: QueryStruct): XmlStruct {
    const arns = read.strings(params.RuleArns)
    const listenerArn = read.string(params.ListenerArn)
    if (arns.length > 0 && listenerArn)
      throw new ApiError(
        'ValidationError',
        'Listener rule ARNs and a listener ARN cannot be specified at the same time',
      )
    let rules: XmlStruct[]
    if (arns.length > 0) {
      rules = arns
        .map((arn) => this.state.rule(arn))
        .map(({ listener, rule }) => this.ruleXml(listener, rule))
    } else {
      if (!listenerArn)
        throw new ApiError('ValidationError', 'You must specify either listener rule ARNs or a listener ARN')
      const listener = this.state.listener(listenerArn)
      rules = [
        ...listener.rules.map((rule) => this.ruleXml(listener, rule)),
        this.ruleXml(listener, 'default'),
      ]
    }
    const page = paginate(rules, params)
    return { Rules: page.items, NextMarker: page.nextMarker }
  }

  private describeTargetGroups(params: QueryStruct): XmlStruct {
    const arns = read.strings(params.TargetGroupArns)
    const names = read.strings(params.Names)
    const lbArn = read.string(params.LoadBalancerArn)
    if ([arns.length > 0, names.length > 0, Boolean(lbArn)].filter(Boolean).length > 1)
      throw new ApiError(
        'ValidationError',
        'Target group ARNs, names and a load balancer ARN cannot be combined',
      )
    let groups = this.state.targetGroups
    if (arns.length > 0) groups = arns.map((arn) => this.state.targetGroup(arn))
    else if (names.length > 0) {
      groups = names.map((name) => {
        const tg = this.state.targetGroups.find((t) => t.name === name)
        if (!tg) throw new ApiError('TargetGroupNotFound', `One or more target groups not found`)
        return tg
      })
    } else if (lbArn) {
      this.state.checkLoadBalancer(lbArn)
      groups = groups.filter((tg) => tg.inUse)
    }
    const page = paginate(groups, params)
    return { TargetGroups: page.items.map((tg) => this.targetGroupXml(tg)), NextMarker: page.nextMarker }
  }

  private describeTargetHealth(params: QueryStruct): XmlStruct {
    const tg = this.state.targetGroup(read.string(params.TargetGroupArn) ?? '')
    const wanted = read.structs(params.Targets)
    const descriptions =
      wanted.length === 0
        ? [...tg.targets.values()].map((t) => targetHealthXml(t))
        : wanted.map((w) => {
            const id = read.string(w.Id) ?? ''
            const port = read.int(w.Port) ?? tg.port
            const target = tg.targets.get(`${id}:${port}`)
            return target
              ? targetHealthXml(target)
              : {
                  Target: { Id: id, Port: port },
                  TargetHealth: {
                    State: 'unused',
                    Reason: 'Target.NotRegistered',
                    Description: 'Target is not registered to the target group',
                  },
                }
          })
    return { TargetHealthDescriptions: descriptions }
  }

  private modifyListener(params: QueryStruct): Answer {
    const arn = read.string(params.ListenerArn) ?? ''
    const listener = this.state.listener(arn)
    const port = read.int(params.Port)
    if (port !== undefined && port !== listener.port) {
      throw new ApiError(
        'ValidationError',
        'The emulator cannot change a listener’s port; edit its config file instead',
      )
    }
    const protocol = read.string(params.Protocol)
    if (protocol !== undefined && protocol !== 'HTTP') {
      throw new ApiError('UnsupportedProtocol', `The emulator supports only HTTP listeners, not ${protocol}`)
    }
    for (const tls of ['SslPolicy', 'Certificates', 'AlpnPolicy', 'MutualAuthentication'] as const) {
      if (tls in params)
        throw new ApiError(
          'ValidationError',
          `${tls} applies only to HTTPS and TLS listeners; this listener is HTTP`,
        )
    }
    const actions = 'DefaultActions' in params ? read.structs(params.DefaultActions) : undefined
    const next = actions ? this.state.prepareListenerActions(arn, actions) : undefined
    const described = next ? { ...listener, defaultActions: next } : listener
    return {
      result: { Listeners: [this.listenerXml(described, false)] },
      commit: next
        ? () => {
            this.lagReads(arn, listener.defaultActions)
            this.lagReads(listener.defaultRuleArn, listener.defaultActions)
            this.state.setListenerActions(arn, next)
          }
        : undefined,
    }
  }

  private modifyRule(params: QueryStruct): Answer {
    const arn = read.string(params.RuleArn) ?? ''
    const actions = 'Actions' in params ? read.structs(params.Actions) : undefined
    const conditions = 'Conditions' in params ? read.structs(params.Conditions) : undefined
    if (!actions && !conditions)
      throw new ApiError('ValidationError', 'Either conditions or actions must be specified')
    const { listener, rule, next } = this.state.prepareRule(arn, actions, conditions)
    return {
      result: { Rules: [this.ruleXml(listener, next, false)] },
      commit: () => {
        this.lagReads(arn, rule.actions)
        this.state.setRule(arn, next)
      },
    }
  }

  private registerTargets(params: QueryStruct): Answer {
    const arn = read.string(params.TargetGroupArn) ?? ''
    const targets = this.state.prepareTargets(arn, targetsParam(params))
    return { result: {}, commit: () => this.state.registerTargets(arn, targets) }
  }

  private deregisterTargets(params: QueryStruct): Answer {
    const arn = read.string(params.TargetGroupArn) ?? ''
    const targets = targetsParam(params)
    this.state.checkDeregistration(arn, targets)
    return { result: {}, commit: () => this.state.deregisterTargets(arn, targets) }
  }

  /** A listener as Describe shows it (`lagging`: as eventual consistency has it) or as just written. */
  private listenerXml(listener: ListenerRecord, lagging = true): XmlStruct {
    const actions = lagging ? this.described(listener.arn, listener.defaultActions) : listener.defaultActions
    return {
      ListenerArn: listener.arn,
      LoadBalancerArn: this.state.loadBalancer.arn,
      Port: listener.port,
      Protocol: listener.protocol,
      DefaultActions: actions.map(actionXml),
    }
  }

  private ruleXml(listener: ListenerRecord, rule: RuleRecord | 'default', lagging = true): XmlStruct {
    if (rule === 'default') {
      const actions = lagging
        ? this.described(listener.defaultRuleArn, listener.defaultActions)
        : listener.defaultActions
      return {
        RuleArn: listener.defaultRuleArn,
        Priority: 'default',
        Conditions: [],
        Actions: actions.map(actionXml),
        IsDefault: true,
      }
    }
    return {
      RuleArn: rule.arn,
      Priority: String(rule.priority),
      Conditions: rule.conditions,
      Actions: (lagging ? this.described(rule.arn, rule.actions) : rule.actions).map(actionXml),
      IsDefault: false,
    }
  }

  private targetGroupXml(tg: TargetGroupRecord): XmlStruct {
    const hc = tg.healthCheck
    return {
      TargetGroupArn: tg.arn,
      TargetGroupName: tg.name,
      Protocol: tg.protocol,
      Port: tg.port,
      VpcId: vpcId,
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: 'traffic-port',
      HealthCheckEnabled: true,
      // AWS counts whole seconds; the emulator allows sub-second intervals for fast tests.
      HealthCheckIntervalSeconds: Math.max(1, Math.round(hc.intervalMs / 1000)),
      HealthCheckTimeoutSeconds: Math.max(1, Math.round(hc.timeoutMs / 1000)),
      HealthyThresholdCount: hc.healthyThreshold,
      UnhealthyThresholdCount: hc.unhealthyThreshold,
      HealthCheckPath: hc.path,
      Matcher: { HttpCode: hc.matcher },
      LoadBalancerArns: tg.inUse ? [this.state.loadBalancer.arn] : [],
      TargetType: tg.targetType,
      ProtocolVersion: 'HTTP1',
      IpAddressType: 'ipv4',
    }
  }
}

function targetsParam(params: QueryStruct): { id: string; port?: number }[] {
  const targets = read.structs(params.Targets)
  if (targets.length === 0) {
    throw new ApiError(
      'ValidationError',
      "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null",
    )
  }
  return targets.map((t) => ({ id: read.string(t.Id) ?? '', port: read.int(t.Port) }))
}

/** DescribeX pagination: PageSize (1–400) items from Marker, and a NextMarker while more are left. */
function paginate<T>(items: T[], params: QueryStruct): { items: T[]; nextMarker?: string } {
  const page = pageOf(items, {
    size: read.int(params.PageSize) ?? 400,
    token: read.string(params.Marker),
    letter: 'o',
    invalid: () => new ApiError('ValidationError', 'The specified marker is not valid'),
  })
  return { items: page.items, nextMarker: page.next }
}

/** An action as ELBv2 describes it: the OIDC client secret is never returned. */
function actionXml(action: QueryStruct): XmlStruct {
  const oidc = read.struct(action.AuthenticateOidcConfig)
  if (!oidc) return action
  const { ClientSecret: _secret, ...rest } = oidc
  return { ...action, AuthenticateOidcConfig: rest }
}

function targetHealthXml(target: TargetRecord): XmlStruct {
  return {
    Target: { Id: target.id, Port: target.port },
    HealthCheckPort: String(target.port),
    TargetHealth: {
      State: target.health.state,
      Reason: target.health.reason,
      Description: target.health.description,
    },
  }
}

/** The emulator's state as plain JSON, for people and drills. */
export function snapshot(state: AlbState): unknown {
  const names = new Map(state.targetGroups.map((tg) => [tg.arn, tg.name]))
  const forwards = (actions: QueryStruct[]): { targetGroup: string; weight: number }[] =>
    actions.flatMap(forwardTargets).map((g) => ({ targetGroup: names.get(g.arn) ?? g.arn, weight: g.weight }))
  return {
    loadBalancerArn: state.loadBalancer.arn,
    listeners: state.listeners.map((l) => ({
      arn: l.arn,
      port: l.port,
      forward: forwards(l.defaultActions),
      rules: l.rules.map((r) => ({ arn: r.arn, priority: r.priority, forward: forwards(r.actions) })),
    })),
    targetGroups: state.targetGroups.map((tg) => ({
      arn: tg.arn,
      name: tg.name,
      inUse: tg.inUse,
      targets: [...tg.targets.values()].map((t) => ({ id: t.id, port: t.port, ...t.health })),
    })),
  }
}

/** Reads at most maxBodyBytes; a larger body (declared or sent) is BodyTooLarge, read no further. */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > maxBodyBytes) return reject(new BodyTooLarge())
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) {
        req.pause()
        reject(new BodyTooLarge())
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}
