/**
 * The emulator's data plane: one HTTP server per listener that proxies each request to a target
 * chosen by the listener's current rules and forward weights.
 *
 * A switch must not fail a single request, so:
 * - the target is picked per request, from the actions as they are at that moment; a kept-alive
 *   client connection is never tied to a target group, and never closed because of a change;
 * - upstream connections come from one keep-alive agent that outlives every change, and free
 *   sockets are dropped before a typical app server (Node: 5 s) would close them;
 * - a request whose reused upstream socket turns out to be closed is sent again on a new one
 *   (the request never reached the app), which is what Node's docs advise for keep-alive races.
 * Weighted forwards use smooth weighted round-robin, so 10/90 means exactly 1 request in 10.
 *
 * Group stickiness (ForwardConfig.TargetGroupStickinessConfig) as AWS documents it for weighted
 * forwards: the reply sets AWSALBTG (and AWSALBTGCORS) naming the chosen target group, valid for
 * DurationSeconds and renewed with every reply; a request that carries a valid one goes to that
 * group, whatever its weight (0 included: stickiness wins over weights), while the group is still
 * in the action and has a target that has not failed its health checks. Otherwise the weights choose, and a new cookie is set.
 * With stickiness off, the cookies are ignored.
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-action-types.html#forward-actions
 */
import { randomBytes } from 'node:crypto'
import {
  Agent,
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import { read, type QueryStruct } from './query.js'
import {
  forwardTargets,
  type AlbState,
  type ListenerRecord,
  type TargetGroupRecord,
  type TargetRecord,
} from './state.js'

const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])
const stickinessCookie = 'AWSALBTG'
/** A request that has already passed through this emulator this many times is a loop. */
const hopHeader = 'x-bluegreen-alb-hops'
/** ALB's default idle timeout. */
const idleTimeoutMs = 60_000
const maxBodyBytes = 10 * 1024 * 1024

export class DataPlane {
  private readonly servers: Server[] = []
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 512, timeout: 4000 })
  /** Rotation state per forward action object; a modify replaces the object and so resets it. */
  private readonly rotations = new WeakMap<object, Map<string, number>>()
  private readonly nextTarget = new Map<TargetGroupRecord, number>()

  constructor(
    private readonly state: AlbState,
    private readonly host: string,
  ) {}

  async start(): Promise<void> {
    for (const listener of this.state.listeners) {
      const server = createServer(
        { keepAliveTimeout: idleTimeoutMs, headersTimeout: idleTimeoutMs + 5000 },
        (req, res) => this.handle(listener, req, res),
      )
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(listener.port, this.host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      listener.port = (server.address() as AddressInfo).port
      this.servers.push(server)
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve())
            server.closeAllConnections()
          }),
      ),
    )
    this.agent.destroy()
  }

  private handle(listener: ListenerRecord, req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBodyBytes) chunks.push(chunk)
    })
    req.on('error', () => res.destroy())
    req.on('end', () => {
      if (size > maxBodyBytes) return reply(res, 413, 'Request Entity Too Large')
      // Buffered, so that a request can be sent again after a keep-alive race with the target.
      this.dispatch(listener, req, res, Buffer.concat(chunks))
    })
  }

  private dispatch(listener: ListenerRecord, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    for (const action of this.route(listener, req)) {
      switch (action.Type) {
        case 'forward':
          return this.forward(listener, action, req, res, body)
        case 'fixed-response': {
          const config = read.struct(action.FixedResponseConfig) ?? {}
          res.writeHead(Number(read.string(config.StatusCode) ?? 200), {
            'content-type': read.string(config.ContentType) ?? 'text/plain',
            server: 'awselb/2.0',
          })
          res.end(read.string(config.MessageBody) ?? '')
          return
        }
        case 'redirect':
          return redirect(listener, action, req, res)
        default:
          // authenticate-oidc, authenticate-cognito, jwt-validation: stored and described, not
          // enforced; a local emulator has no identity provider to talk to.
          continue
      }
    }
    reply(res, 500, 'Internal Server Error')
  }

  /** The actions of the first rule (by priority) whose conditions all match, else the defaults. */
  private route(listener: ListenerRecord, req: IncomingMessage): QueryStruct[] {
    for (const rule of listener.rules) {
      if (rule.conditions.every((condition) => conditionMatches(condition, req))) return rule.actions
    }
    return listener.defaultActions
  }

  private forward(
    listener: ListenerRecord,
    action: QueryStruct,
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
  ): void {
    if (Number(req.headers[hopHeader] ?? 0) >= 1) return reply(res, 508, 'Loop Detected')
    const all = forwardTargets(action)
    const stickiness = stickinessOf(action)
    const sticky = stickiness ? this.stickyGroup(req, all) : undefined
    const groups = all.filter((g) => g.weight > 0)
    if (!sticky && groups.length === 0) return reply(res, 503, 'Service Temporarily Unavailable')
    const arn = sticky ?? this.pickGroup(action, groups)
    const tg = this.state.targetGroups.find((t) => t.arn === arn)
    const target = tg && this.pickTarget(tg)
    if (!target) return reply(res, 503, 'Service Temporarily Unavailable')
    if (stickiness) {
      const expires = new Date(Date.now() + stickiness * 1000)
      const value = Buffer.from(JSON.stringify({ g: arn, e: expires.getTime() })).toString('base64url')
      res.setHeader('set-cookie', [
        `${stickinessCookie}=${value}; Expires=${expires.toUTCString()}; Path=/`,
        `${stickinessCookie}CORS=${value}; Expires=${expires.toUTCString()}; Path=/; SameSite=None; Secure`,
      ])
    }
    this.proxy(listener, target, req, res, body, 1)
  }

  /** The group a valid stickiness cookie names, if the action still has it and it is not unhealthy. */
  private stickyGroup(req: IncomingMessage, groups: { arn: string }[]): string | undefined {
    const value = cookie(req, stickinessCookie) ?? cookie(req, `${stickinessCookie}CORS`)
    if (!value) return undefined
    let parsed: unknown
    try {
      parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'))
    } catch {
      return undefined
    }
    const { g, e } = (parsed ?? {}) as { g?: unknown; e?: unknown }
    if (typeof g !== 'string' || typeof e !== 'number' || e <= Date.now()) return undefined
    if (!groups.some((group) => group.arn === g)) return undefined
    const tg = this.state.targetGroups.find((t) => t.arn === g)
    // A group whose targets have all failed their health checks loses its sticky clients.
    const serving =
      tg &&
      [...tg.targets.values()].some(
        (t) => !t.unusable && (t.health.state === 'healthy' || t.health.state === 'initial'),
      )
    return serving ? g : undefined
  }

  private pickGroup(action: QueryStruct, groups: { arn: string; weight: number }[]): string {
    const key = read.struct(action.ForwardConfig) ?? action
    let current = this.rotations.get(key)
    if (!current) this.rotations.set(key, (current = new Map<string, number>()))
    const total = groups.reduce((sum, g) => sum + g.weight, 0)
    let best = groups[0]
    for (const group of groups) {
      current.set(group.arn, (current.get(group.arn) ?? 0) + group.weight)
      if (current.get(group.arn)! > current.get(best.arn)!) best = group
    }
    current.set(best.arn, current.get(best.arn)! - total)
    return best.arn
  }

  /** Round-robin over healthy targets; with none healthy, over all of them (ELBv2 fails open). */
  private pickTarget(tg: TargetGroupRecord): TargetRecord | undefined {
    const registered = [...tg.targets.values()].filter((t) => t.health.state !== 'draining' && !t.unusable)
    const healthy = registered.filter((t) => t.health.state === 'healthy')
    const candidates = healthy.length > 0 ? healthy : registered
    if (candidates.length === 0) return undefined
    const index = (this.nextTarget.get(tg) ?? 0) % candidates.length
    this.nextTarget.set(tg, index + 1)
    return candidates[index]
  }

  private proxy(
    listener: ListenerRecord,
    target: TargetRecord,
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    attempt: number,
  ): void {
    const upstream = request({
      host: target.host,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: forwardedHeaders(req, listener, body),
      agent: this.agent,
    })
    let answered = false
    upstream.on('response', (answer) => {
      answered = true
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, withoutHopByHop(answer.headers))
      answer.pipe(res)
      answer.on('error', () => res.destroy())
      answer.on('aborted', () => res.destroy())
    })
    upstream.setTimeout(idleTimeoutMs, () =>
      upstream.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
    )
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (answered || res.headersSent) return void res.destroy()
      const raced = upstream.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')
      if (raced && attempt < 3) return this.proxy(listener, target, req, res, body, attempt + 1)
      reply(
        res,
        error.code === 'ETIMEDOUT' ? 504 : 502,
        error.code === 'ETIMEDOUT' ? 'Gateway Timeout' : 'Bad Gateway',
      )
    })
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy()
    })
    upstream.end(body)
  }
}

function forwardedHeaders(
  req: IncomingMessage,
  listener: ListenerRecord,
  body: Buffer,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(withoutHopByHop(req.headers)))
    if (value !== undefined) headers[name] = value
  const client = req.socket.remoteAddress ?? ''
  const previous = req.headers['x-forwarded-for']
  headers['x-forwarded-for'] = previous ? `${String(previous)}, ${client}` : client
  headers['x-forwarded-proto'] = 'http'
  headers['x-forwarded-port'] = String(listener.port)
  headers[hopHeader] = String(Number(req.headers[hopHeader] ?? 0) + 1)
  headers['x-amzn-trace-id'] ??=
    `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`
  if (body.length > 0 || req.headers['content-length'] !== undefined)
    headers['content-length'] = String(body.length)
  return headers
}

/** DurationSeconds of the action's group stickiness, when it is on. */
function stickinessOf(action: QueryStruct): number | undefined {
  const config = read.struct(read.struct(action.ForwardConfig)?.TargetGroupStickinessConfig)
  return read.bool(config?.Enabled) ? read.int(config?.DurationSeconds) : undefined
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=')
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim()
  }
  return undefined
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
  const out: IncomingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!hopByHop.has(name) && !named.includes(name)) out[name] = value
  }
  return out
}

function reply(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy()
  res.writeHead(status, { 'content-type': 'text/html', server: 'awselb/2.0' })
  res.end(
    `<html><head><title>${status} ${text}</title></head><body><center><h1>${status} ${text}</h1></center></body></html>\n`,
  )
}

function redirect(
  listener: ListenerRecord,
  action: QueryStruct,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const config = read.struct(action.RedirectConfig) ?? {}
  const url = new URL(req.url ?? '/', 'http://placeholder')
  const hostHeader = req.headers.host ?? ''
  const values: Record<string, string> = {
    protocol: 'HTTP',
    host: hostHeader.replace(/:\d+$/, ''),
    port: String(listener.port),
    path: url.pathname,
    query: url.search.slice(1),
  }
  const fill = (template: string | undefined, fallback: string): string =>
    (template ?? fallback).replace(/#\{(protocol|host|port|path|query)\}/g, (_, key: string) => values[key])
  const protocol = fill(read.string(config.Protocol), '#{protocol}').toLowerCase()
  const query = fill(read.string(config.Query), '#{query}')
  const location = `${protocol}://${fill(read.string(config.Host), '#{host}')}:${fill(read.string(config.Port), '#{port}')}${fill(read.string(config.Path), '/#{path}').replace(/^\/\//, '/')}${query ? `?${query}` : ''}`
  res.writeHead(read.string(config.StatusCode) === 'HTTP_301' ? 301 : 302, { location, server: 'awselb/2.0' })
  res.end()
}

function conditionMatches(condition: QueryStruct, req: IncomingMessage): boolean {
  const field = read.string(condition.Field)
  const typed = (name: string): string[] => read.strings(read.struct(condition[name])?.Values)
  const values = (name: string): string[] => {
    const list = typed(name)
    return list.length > 0 ? list : read.strings(condition.Values)
  }
  switch (field) {
    case 'path-pattern': {
      const path = (req.url ?? '/').split('?')[0]
      return values('PathPatternConfig').some((pattern) => glob(pattern, false).test(path))
    }
    case 'host-header': {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '')
      return values('HostHeaderConfig').some((pattern) => glob(pattern, true).test(host))
    }
    case 'http-request-method':
      return values('HttpRequestMethodConfig').includes(req.method ?? 'GET')
    case 'http-header': {
      const config = read.struct(condition.HttpHeaderConfig)
      const header = req.headers[(read.string(config?.HttpHeaderName) ?? '').toLowerCase()]
      const value = Array.isArray(header) ? header.join(',') : (header ?? '')
      return (
        header !== undefined &&
        read.strings(config?.Values).some((pattern) => glob(pattern, true).test(value))
      )
    }
    default:
      // query-string and source-ip conditions are not emulated: such a rule never matches.
      return false
  }
}

/** ELBv2 patterns: `*` matches any characters, `?` exactly one. */
function glob(pattern: string, ignoreCase: boolean): RegExp {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '')
}
