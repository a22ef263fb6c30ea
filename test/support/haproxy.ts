/**
 * A real HAProxy for tests: config in a temp prefix, foreground (`-db`), a front end on a free
 * port of 127.0.0.1, one backend holding both pools' servers with HTTP health checks, the runtime
 * API on a unix socket and on TCP, and a server-state file. Stopped by PID. Never the system config.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import type { HaproxyConfig, Plan } from '../../src/plan/schema.js'
import type { TestApp } from './http-app.js'
import { findBinary, freePort, startProcess, waitFor, type Started } from './process.js'

export interface TestHaproxy {
  prefix: string
  /** The production front end, e.g. http://127.0.0.1:41234/ */
  trafficUrl: string
  /** The plan's loadBalancer section for this HAProxy (unix socket). */
  config: HaproxyConfig
  /** The same runtime API over TCP, host:port. */
  tcpRuntimeApi: string
  pools: Plan['pools']
  process(): Started
  /** Stops HAProxy and starts it again with the same config (and server-state file). */
  restart(): Promise<void>
  stop(): Promise<void>
}

export interface HaproxyOptions {
  apps: { blue: TestApp[]; green: TestApp[] }
  /** The pool with weight in the config HAProxy starts with. */
  live: 'blue' | 'green'
  /**
   * Persistence in the backend: `cookie` inserts a SRV cookie naming the server (`cookie SRV
   * insert indirect nocache`, a cookie per server); `table` sticks each client address to its
   * server in the backend's own stick-table (`stick on src`).
   */
  sticky?: 'cookie' | 'table'
}

export async function startHaproxy(options: HaproxyOptions): Promise<TestHaproxy> {
  const binary = findBinary('haproxy')
  if (!binary) throw new Error('haproxy is not installed')
  const prefix = await mkdtemp(join(tmpdir(), 'bluegreen-haproxy-'))
  const [frontPort, apiPort] = [await freePort(), await freePort()]
  const socket = join(prefix, 'admin.sock')
  const stateFile = join(prefix, 'servers.state')
  const backend = 'shop'
  const names = {
    blue: options.apps.blue.map((_, i) => `blue${i + 1}`),
    green: options.apps.green.map((_, i) => `green${i + 1}`),
  }
  const serverLines = (['blue', 'green'] as const).flatMap((pool) =>
    options.apps[pool].map(
      (app, i) =>
        `  server ${names[pool][i]} ${app.address}:${app.port} weight ${pool === options.live ? 1 : 0}` +
        (options.sticky === 'cookie' ? ` cookie ${names[pool][i]}` : ''),
    ),
  )
  const cfg = [
    'global',
    `  stats socket ${socket} level admin mode 600`,
    `  stats socket ipv4@127.0.0.1:${apiPort} level admin`,
    `  server-state-file ${stateFile}`,
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  load-server-state-from-file global',
    'frontend production',
    `  bind 127.0.0.1:${frontPort}`,
    `  default_backend ${backend}`,
    `backend ${backend}`,
    '  balance roundrobin',
    ...(options.sticky === 'cookie' ? ['  cookie SRV insert indirect nocache'] : []),
    ...(options.sticky === 'table' ? ['  stick-table type ip size 1k expire 30m', '  stick on src'] : []),
    '  option httpchk GET /healthz',
    // Fast checks so that a stopped target is DOWN within half a second.
    '  default-server check inter 150ms fall 2 rise 2',
    ...serverLines,
    '',
  ].join('\n')
  const cfgPath = join(prefix, 'haproxy.cfg')
  await writeFile(cfgPath, cfg)

  let started: Started
  const start = async (): Promise<void> => {
    started = startProcess(binary, ['-db', '-f', cfgPath])
    await waitFor(
      async () => {
        if (started.child.exitCode !== null) throw new Error(`haproxy exited: ${started.output()}`)
        return (
          (await canConnect({ path: socket })) && (await canConnect({ port: frontPort, host: '127.0.0.1' }))
        )
      },
      10_000,
      'haproxy to listen',
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${started.output()}`)
    })
  }
  await start()

  return {
    prefix,
    trafficUrl: `http://127.0.0.1:${frontPort}/`,
    config: { provider: 'haproxy', runtimeApi: socket, backend, stateFile },
    tcpRuntimeApi: `127.0.0.1:${apiPort}`,
    pools: { blue: { servers: names.blue }, green: { servers: names.green } },
    process: () => started,
    async restart() {
      await started.stop()
      await start()
    },
    async stop() {
      await started.stop()
      await rm(prefix, { recursive: true, force: true })
    },
  }
}

function canConnect(target: { path: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(target)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
