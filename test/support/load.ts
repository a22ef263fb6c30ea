/**
 * A load client for switch-under-load tests: a few workers send GET requests back to back over
 * keep-alive connections, like a browser or an upstream service would, and count every request
 * that did not get a 2xx answer. Nothing is retried: a request that races a closed keep-alive
 * connection is a failure a real client would have seen (most clients do not retry either).
 */
import { Agent, get, type IncomingMessage } from 'node:http'

export interface LoadReport {
  sent: number
  failed: number
  /** Distinct failure reasons with their count, e.g. "socket hang up ×2". */
  errors: string[]
  p99Ms: number
  /** Successful answers by the x-pool header of the app that answered. */
  byPool: Record<string, number>
}

export interface LoadOptions {
  /** The load stops when this promise settles or this signal aborts. */
  until: Promise<unknown> | AbortSignal
  /** Parallel keep-alive connections (default 4). */
  concurrency?: number
  /** Per-request timeout (default 5000 ms). */
  timeoutMs?: number
  /**
   * Each connection's worker keeps the cookies it is given and sends them back, as a browser
   * does: a load balancer's stickiness cookie then holds it to its pool.
   */
  cookies?: boolean
  /** Called for every successful answer with the time its request was sent (performance.now()). */
  onAnswer?: (sentAt: number, pool: string) => void
}

interface Answer {
  status: number
  pool: string | undefined
}

/** Cookies a client was given, by name. */
type CookieJar = Map<string, string>

function request(url: string, agent: Agent | false, timeoutMs: number, jar?: CookieJar): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = jar && jar.size > 0 ? { cookie: [...jar].map(([n, v]) => `${n}=${v}`).join('; ') } : {}
    const req = get(url, { agent, headers }, (res: IncomingMessage) => {
      if (jar) keepCookies(jar, res)
      res.resume()
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, pool: headerValue(res.headers['x-pool']) }))
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

function keepCookies(jar: CookieJar, res: IncomingMessage): void {
  for (const line of res.headers['set-cookie'] ?? []) {
    const [pair] = line.split(';')
    const at = pair.indexOf('=')
    if (at > 0) jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim())
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

export async function runKeepAliveLoad(url: string, options: LoadOptions): Promise<LoadReport> {
  const concurrency = options.concurrency ?? 4
  const timeoutMs = options.timeoutMs ?? 5000
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  let stopped = false
  const stop = (): void => {
    stopped = true
  }
  if (options.until instanceof AbortSignal) {
    if (options.until.aborted) stop()
    else options.until.addEventListener('abort', stop, { once: true })
  } else {
    options.until.then(stop, stop)
  }

  const latencies: number[] = []
  const reasons = new Map<string, number>()
  const byPool: Record<string, number> = {}
  let sent = 0
  let failed = 0
  const fail = (reason: string): void => {
    failed++
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
  }

  const worker = async (): Promise<void> => {
    const jar: CookieJar | undefined = options.cookies ? new Map() : undefined
    while (!stopped) {
      const started = performance.now()
      sent++
      try {
        const answer = await request(url, agent, timeoutMs, jar)
        latencies.push(performance.now() - started)
        if (answer.status < 200 || answer.status > 299) fail(`status ${answer.status}`)
        else {
          byPool[answer.pool ?? 'unknown'] = (byPool[answer.pool ?? 'unknown'] ?? 0) + 1
          options.onAnswer?.(started, answer.pool ?? 'unknown')
        }
      } catch (error) {
        latencies.push(performance.now() - started)
        const code = (error as NodeJS.ErrnoException).code
        fail(code ? `${code}: ${(error as Error).message}` : (error as Error).message)
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: concurrency }, worker))
  } finally {
    agent.destroy()
  }
  latencies.sort((a, b) => a - b)
  const p99 =
    latencies.length === 0
      ? 0
      : latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]
  return {
    sent,
    failed,
    errors: [...reasons].map(([reason, count]) => `${reason} ×${count}`),
    p99Ms: Math.round(p99 * 10) / 10,
    byPool,
  }
}

/**
 * Sends `count` requests one after another, each on a fresh connection (so no keep-alive
 * connection pins it to an old configuration), and counts the answers by pool.
 */
export async function samplePools(
  url: string,
  count: number,
  timeoutMs = 5000,
): Promise<Record<string, number>> {
  const byPool: Record<string, number> = {}
  for (let i = 0; i < count; i++) {
    const answer = await request(url, false, timeoutMs)
    const key = answer.status === 200 ? (answer.pool ?? 'unknown') : `status ${answer.status}`
    byPool[key] = (byPool[key] ?? 0) + 1
  }
  return byPool
}

/**
 * One client that keeps the cookies it is given, as a browser does, on fresh connections: what
 * stickiness (a load balancer's cookie, or its stick-table entry for the client's address) sees.
 * `get()` answers with the pool that served the request.
 */
export function cookieClient(url: string, timeoutMs = 5000): { get(): Promise<string> } {
  const jar: CookieJar = new Map()
  return {
    async get() {
      const answer = await request(url, false, timeoutMs, jar)
      if (answer.status !== 200) throw new Error(`status ${answer.status}`)
      return answer.pool ?? 'unknown'
    },
  }
}
