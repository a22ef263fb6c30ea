/**
 * The demo's example application: a tiny "shop" whose pools run v1 or v2 on 127.0.0.1.
 * v1 reads `profiles.name`; v2 reads `first_name` and `last_name` (the expand/contract
 * playbook's example). Both versions work on the expanded schema — that is what makes the
 * rollback safe — and v1 stops working once the contract drops `name`.
 *
 * A small control server stands in for a real deploy system: the plan's deploy command
 * POSTs {pool, version} to it, and the pool's servers "restart" on the new version.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { PoolName } from '../lb/types.js'

export interface DemoServer {
  pool: PoolName
  port: number
  version: string
}

export interface DemoApp {
  servers: DemoServer[]
  controlUrl: string
  versionOf(pool: PoolName): string
  close(): Promise<void>
}

type Query = (sql: string) => Promise<{ rows: Record<string, unknown>[] }>

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

function send(res: ServerResponse, status: number, body: unknown, version: string, pool: string): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
    'x-app-version': version,
    'x-pool': pool,
  })
  res.end(text)
}

/** Starts `perPool` servers for each pool (blue and green start on `initialVersion`) and the control server. */
export async function startDemoApp(options: {
  databaseUrl: string
  initialVersion: string
  perPool?: number
}): Promise<DemoApp> {
  const { default: pg } = await import('pg')
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 4 })
  pool.on('error', () => {})
  const query: Query = (sql) => pool.query(sql)
  const versions: Record<PoolName, string> = { blue: options.initialVersion, green: options.initialVersion }
  const servers: (DemoServer & { server: Server })[] = []

  const handle = (poolName: PoolName) => async (req: IncomingMessage, res: ServerResponse) => {
    const version = versions[poolName]
    try {
      // Liveness only: a database outage must not mark both pools unhealthy at once, or the
      // load balancer would have no pool to roll back to.
      if (req.url === '/healthz') return send(res, 200, 'ok', version, poolName)
      if (req.url === '/version')
        return send(res, 200, { app: 'shop', version, pool: poolName }, version, poolName)
      const profiles = await readProfiles(query, version)
      return send(res, 200, { app: 'shop', version, pool: poolName, profiles }, version, poolName)
    } catch (error) {
      return send(res, 500, { error: (error as Error).message, version, pool: poolName }, version, poolName)
    }
  }

  for (const poolName of ['blue', 'green'] as const) {
    for (let i = 0; i < (options.perPool ?? 2); i++) {
      const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => void handle(poolName)(req, res))
      const port = await listen(server)
      servers.push({ pool: poolName, port, version: versions[poolName], server })
    }
  }

  const control = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString()))
    req.on('end', () => {
      try {
        const { pool: target, version } = JSON.parse(body) as { pool: PoolName; version: string }
        if ((target !== 'blue' && target !== 'green') || !version)
          throw new Error('expected {"pool":"blue|green","version":"…"}')
        versions[target] = version
        for (const s of servers) if (s.pool === target) s.version = version
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok: true, pool: target, version }))
      } catch (error) {
        res.writeHead(400).end((error as Error).message)
      }
    })
  })
  const controlPort = await listen(control)

  return {
    servers,
    controlUrl: `http://127.0.0.1:${controlPort}/deploy`,
    versionOf: (p) => versions[p],
    async close() {
      await Promise.all(
        [...servers.map((s) => s.server), control].map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections()
              server.close(() => resolve())
            }),
        ),
      )
      await pool.end()
    },
  }
}

/** v1 knows `name`; v2 and later know `first_name` and `last_name`. */
async function readProfiles(query: Query, version: string): Promise<string[]> {
  const v2 = Number(version.replace(/^v/, '').split('.')[0]) >= 2
  const { rows } = v2
    ? await query(`SELECT concat_ws(' ', first_name, last_name) AS display FROM profiles ORDER BY id LIMIT 3`)
    : await query(`SELECT name AS display FROM profiles ORDER BY id LIMIT 3`)
  return rows.map((r) => String(r.display))
}
