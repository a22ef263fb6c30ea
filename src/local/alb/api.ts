/**
 * The emulator's control plane: the ELBv2 Query API (version 2015-12-01) for the calls bluegreen
 * makes, answered in the XML shapes and with the error codes that AWS documents, so that the real
 * AWS SDK parses the answers into its own output types and exception classes.
 *
 * Also an admin endpoint for fault drills, outside the AWS API:
 *   POST   /_emulator/faults  {"mode":"5xx"|"throttle"|"slow"|"denied","count":N,"delayMs":N,"actions":[…]}
 *   DELETE /_emulator/faults  clears queued faults
 *   GET    /_emulator/state   listeners, weights and target health as JSON
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as z from 'zod'
import { parseQuery, QueryParseError, read, toXml, type QueryStruct, type XmlStruct } from './query.js'
import {
  ApiError,
  forwardTargets,
  type AlbState,
  type ListenerRecord,
  type RuleRecord,
  type TargetGroupRecord,
  type TargetRecord,
} from './state.js'

const namespace = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/'
const vpcId = 'vpc-0e1a0c0a1b0c0d0e0'

export const Fault = z.strictObject({
  mode: z.enum(['5xx', 'throttle', 'slow', 'denied']),
  count: z.int().min(1).default(1).describe('How many API calls it affects'),
  delayMs: z.int().min(0).default(2000).describe('For mode slow: how long each affected call waits'),
  actions: z.array(z.string()).optional().describe('Only these API actions (default: all)'),
})
export type Fault = z.infer<typeof Fault>
export type FaultInput = z.input<typeof Fault>

type Handler = (params: QueryStruct) => XmlStruct

export class ApiServer {
  private server?: Server
  private faults: Fault[] = []
  private readonly handlers: Record<string, Handler>

  constructor(private readonly state: AlbState) {
    this.handlers = {
      DescribeLoadBalancers: (p) => this.describeLoadBalancers(p),
      DescribeListeners: (p) => this.describeListeners(p),
      DescribeRules: (p) => this.describeRules(p),
      DescribeTargetGroups: (p) => this.describeTargetGroups(p),
      DescribeTargetHealth: (p) => this.describeTargetHealth(p),
      ModifyListener: (p) => this.modifyListener(p),
      ModifyRule: (p) => this.modifyRule(p),
      RegisterTargets: (p) => this.registerTargets(p),
      DeregisterTargets: (p) => this.deregisterTargets(p),
    }
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
      const action = form.get('Action')
      if (!action) throw new ApiError('MissingAction', 'The request must contain the parameter Action')
      const handler = this.handlers[action]
      if (!handler)
        throw new ApiError('InvalidAction', `The action ${action} is not valid for this web service.`)
      await this.applyFault(action)
      let params: QueryStruct
      try {
        params = parseQuery(form)
      } catch (error) {
        if (error instanceof QueryParseError) throw new ApiError('MalformedQueryString', error.message)
        throw error
      }
      const result = handler(params)
      const xml =
        `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${namespace}">` +
        toXml(`${action}Result`, result) +
        `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
      res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }).end(xml)
    } catch (error) {
      const apiError =
        error instanceof ApiError
          ? error
          : new ApiError(
              'InternalFailure',
              `The emulator failed: ${(error as Error).message}`,
              500,
              'Receiver',
            )
      const xml =
        `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${namespace}"><Error>` +
        toXml('Type', apiError.type) +
        toXml('Code', apiError.code) +
        toXml('Message', apiError.message) +
        `</Error>${toXml('RequestId', requestId)}</ErrorResponse>`
      if (!res.headersSent)
        res.writeHead(apiError.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId })
      res.end(xml)
    }
  }

  private async applyFault(action: string): Promise<void> {
    const fault = this.faults.find((f) => !f.actions || f.actions.includes(action))
    if (!fault) return
    if (--fault.count <= 0) this.faults.splice(this.faults.indexOf(fault), 1)
    switch (fault.mode) {
      case 'slow':
        await new Promise((resolve) => setTimeout(resolve, fault.delayMs))
        return
      case '5xx':
        throw new ApiError('InternalFailure', 'An internal error has occurred. Try again.', 500, 'Receiver')
      case 'throttle':
        throw new ApiError('Throttling', 'Rate exceeded', 400)
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
    return {
      LoadBalancers: [
        {
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
        },
      ],
    }
  }

  private describeListeners(params: QueryStruct): XmlStruct {
    const arns = read.strings(params.ListenerArns)
    const lbArn = read.string(params.LoadBalancerArn)
    let listeners: ListenerRecord[]
    if (arns.length > 0) listeners = arns.map((arn) => this.state.listener(arn))
    else if (lbArn) {
      this.state.checkLoadBalancer(lbArn)
      listeners = this.state.listeners
    } else
      throw new ApiError('ValidationError', 'You must specify either listener ARNs or a load balancer ARN')
    return { Listeners: listeners.map((l) => this.listenerXml(l)) }
  }

  private describeRules(params: QueryStruct): XmlStruct {
    const arns = read.strings(params.RuleArns)
    const listenerArn = read.string(params.ListenerArn)
    if (arns.length > 0) {
      return {
        Rules: arns.map((arn) => this.state.rule(arn)).map(({ listener, rule }) => ruleXml(listener, rule)),
      }
    }
    if (!listenerArn)
      throw new ApiError('ValidationError', 'You must specify either listener rule ARNs or a listener ARN')
    const listener = this.state.listener(listenerArn)
    return { Rules: [...listener.rules.map((rule) => ruleXml(listener, rule)), ruleXml(listener, 'default')] }
  }

  private describeTargetGroups(params: QueryStruct): XmlStruct {
    const arns = read.strings(params.TargetGroupArns)
    const names = read.strings(params.Names)
    const lbArn = read.string(params.LoadBalancerArn)
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
    return { TargetGroups: groups.map((tg) => this.targetGroupXml(tg)) }
  }

  private describeTargetHealth(params: QueryStruct): XmlStruct {
    const tg = this.state.targetGroup(required(params, 'TargetGroupArn', 'targetGroupArn'))
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

  private modifyListener(params: QueryStruct): XmlStruct {
    const arn = required(params, 'ListenerArn', 'listenerArn')
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
    const actions = 'DefaultActions' in params ? read.structs(params.DefaultActions) : undefined
    return { Listeners: [this.listenerXml(this.state.modifyListener(arn, actions))] }
  }

  private modifyRule(params: QueryStruct): XmlStruct {
    const arn = required(params, 'RuleArn', 'ruleArn')
    const actions = 'Actions' in params ? read.structs(params.Actions) : undefined
    const conditions = 'Conditions' in params ? read.structs(params.Conditions) : undefined
    if (!actions && !conditions)
      throw new ApiError('ValidationError', 'Either conditions or actions must be specified')
    const rule = this.state.modifyRule(arn, actions, conditions)
    return { Rules: [ruleXml(this.state.rule(arn).listener, rule)] }
  }

  private registerTargets(params: QueryStruct): XmlStruct {
    this.state.registerTargets(required(params, 'TargetGroupArn', 'targetGroupArn'), targetsParam(params))
    return {}
  }

  private deregisterTargets(params: QueryStruct): XmlStruct {
    this.state.deregisterTargets(required(params, 'TargetGroupArn', 'targetGroupArn'), targetsParam(params))
    return {}
  }

  private listenerXml(listener: ListenerRecord): XmlStruct {
    return {
      ListenerArn: listener.arn,
      LoadBalancerArn: this.state.loadBalancer.arn,
      Port: listener.port,
      Protocol: listener.protocol,
      DefaultActions: listener.defaultActions.map(actionXml),
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

function required(params: QueryStruct, name: string, member: string): string {
  const value = read.string(params[name])
  if (!value) {
    throw new ApiError(
      'ValidationError',
      `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
    )
  }
  return value
}

function targetsParam(params: QueryStruct): { id: string; port?: number }[] {
  const targets = read.structs(params.Targets)
  if (targets.length === 0) {
    throw new ApiError(
      'ValidationError',
      "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null",
    )
  }
  return targets.map((t) => {
    const id = read.string(t.Id)
    if (!id) throw new ApiError('ValidationError', 'Every target needs an Id')
    return { id, port: read.int(t.Port) }
  })
}

/** An action as ELBv2 describes it: the OIDC client secret is never returned. */
function actionXml(action: QueryStruct): XmlStruct {
  const oidc = read.struct(action.AuthenticateOidcConfig)
  if (!oidc) return action
  const { ClientSecret: _secret, ...rest } = oidc
  return { ...action, AuthenticateOidcConfig: rest }
}

function ruleXml(listener: ListenerRecord, rule: RuleRecord | 'default'): XmlStruct {
  if (rule === 'default') {
    return {
      RuleArn: listener.defaultRuleArn,
      Priority: 'default',
      Conditions: [],
      Actions: listener.defaultActions.map(actionXml),
      IsDefault: true,
    }
  }
  return {
    RuleArn: rule.arn,
    Priority: String(rule.priority),
    Conditions: rule.conditions,
    Actions: rule.actions.map(actionXml),
    IsDefault: false,
  }
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      body += chunk
      if (body.length > 1024 * 1024) req.destroy(new Error('request body too large'))
    })
    req.on('end', () => resolve(body))
    req.on('error', reject)
  })
}
