/**
 * A tiny application server for tests: one per pool target, on 127.0.0.1. It answers
 *   GET /healthz  → 200 "ok" (or the configured failure)
 *   GET /version  → {"app","pool","version"} as JSON
 *   anything else → "version <version> from <pool>" with headers x-pool, x-version, x-host
 * Its behaviour can be changed while it runs (fail with a status, hang, reset connections)
 * so tests can model a bad target. It keeps connections alive like a real app server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type AppMode = 'ok' | 'status500' | 'hang' | 'reset'

export interface TestApp {
  port: number
  address: string
  pool: string
  version: string
  /** Requests served so far (all paths). */
  requests: number
  /** Host headers seen, most recent last. */
  hosts: string[]
  setVersion(version: string): void
  setMode(mode: AppMode): void
  close(): Promise<void>
}

export async function startTestApp(options: {
  pool: string
  version: string
  port?: number
}): Promise<TestApp> {
  let mode: AppMode = 'ok'
  const sockets = new Set<Socket>()
  const app: TestApp = {
    port: 0,
    address: '127.0.0.1',
    pool: options.pool,
    version: options.version,
    requests: 0,
    hosts: [],
    setVersion: (v) => (app.version = v),
    setMode: (m) => (mode = m),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
  const server: Server = createServer(
    { keepAliveTimeout: 30_000 },
    (req: IncomingMessage, res: ServerResponse) => {
      app.requests++
      app.hosts.push(req.headers.host ?? '')
      if (app.hosts.length > 1000) app.hosts.shift()
      if (mode === 'hang') return
      if (mode === 'reset') {
        req.socket.destroy()
        return
      }
      const status = mode === 'status500' ? 500 : 200
      const headers = { 'x-pool': app.pool, 'x-version': app.version, 'x-host': req.headers.host ?? '' }
      if (req.url === '/healthz') {
        res
          .writeHead(status, { ...headers, 'content-type': 'text/plain' })
          .end(status === 200 ? 'ok' : 'unhealthy')
      } else if (req.url === '/version') {
        res
          .writeHead(status, { ...headers, 'content-type': 'application/json' })
          .end(JSON.stringify({ app: 'test', pool: app.pool, version: app.version }))
      } else {
        res
          .writeHead(status, { ...headers, 'content-type': 'text/plain' })
          .end(`version ${app.version} from ${app.pool}\n`)
      }
    },
  )
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  app.port = (server.address() as AddressInfo).port
  return app
}

export interface PoolApps {
  blue: TestApp[]
  green: TestApp[]
}

/** `perPool` app servers for each pool; blue runs `${pool}-v1` unless versions are given. */
export async function startPoolApps(
  perPool = 2,
  versions?: { blue: string; green: string },
): Promise<PoolApps> {
  const start = (pool: 'blue' | 'green'): Promise<TestApp[]> =>
    Promise.all(
      Array.from({ length: perPool }, () =>
        startTestApp({ pool, version: versions?.[pool] ?? `${pool}-v1` }),
      ),
    )
  const [blue, green] = await Promise.all([start('blue'), start('green')])
  return { blue, green }
}

export async function closeApps(apps: PoolApps | undefined): Promise<void> {
  if (!apps) return
  await Promise.all([...apps.blue, ...apps.green].map((app) => app.close()))
}
