/**
 * A real nginx for tests: its own prefix in a temp directory (config, upstream include, pid file,
 * logs, temp paths), in the foreground (`daemon off`), listening on a free port of 127.0.0.1.
 * Stopped by PID. `-e` points the startup error log into the prefix too, so the system's nginx
 * config and log directory are never touched.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NginxConfig, Plan } from '../../src/plan/schema.js'
import type { TestApp } from './http-app.js'
import { findBinary, freePort, startProcess, waitFor, type Started } from './process.js'

export interface TestNginx {
  prefix: string
  pid: number
  trafficUrl: string
  /** The plan's loadBalancer section: test and reload aimed at this nginx alone. */
  config: NginxConfig
  pools: Plan['pools']
  upstreamFile: string
  /** Master PID of the running nginx and the PIDs of its workers (changes after a reload). */
  workers(): Promise<number[]>
  errorLog(): Promise<string>
  stop(): Promise<void>
}

export interface NginxOptions {
  apps: { blue: TestApp[]; green: TestApp[] }
  live: 'blue' | 'green'
}

export async function startNginx(options: NginxOptions): Promise<TestNginx> {
  const binary = findBinary('nginx')
  if (!binary) throw new Error('nginx is not installed')
  const prefix = await mkdtemp(join(tmpdir(), 'bluegreen-nginx-'))
  await mkdir(join(prefix, 'logs'))
  const port = await freePort()
  const confPath = join(prefix, 'nginx.conf')
  const upstreamFile = join(prefix, 'upstream.conf')
  const errorLog = join(prefix, 'logs', 'error.log')
  const upstream = 'shop'
  const addresses = {
    blue: options.apps.blue.map((app) => `${app.address}:${app.port}`),
    green: options.apps.green.map((app) => `${app.address}:${app.port}`),
  }
  // Written by hand as an operator would, with a directive bluegreen must keep.
  const live = addresses[options.live].map((a) => `    server ${a} max_fails=1;`)
  await writeFile(upstreamFile, [`upstream ${upstream} {`, '    keepalive 16;', ...live, '}', ''].join('\n'))
  const conf = [
    'worker_processes 1;',
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${errorLog} notice;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
      (t) => `  ${t}_temp_path ${join(prefix, `${t}_temp`)};`,
    ),
    `  include ${upstreamFile};`,
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    keepalive_timeout 60s;',
    '    keepalive_requests 100000;',
    '    location / {',
    `      proxy_pass http://${upstream};`,
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n')
  await writeFile(confPath, conf)

  const base = ['-p', prefix, '-c', confPath, '-e', errorLog]
  const started: Started = startProcess(binary, [...base, '-g', 'daemon off;'])
  await waitFor(
    async () => {
      if (started.child.exitCode !== null) throw new Error('nginx exited')
      return canConnect(port)
    },
    10_000,
    'nginx to listen',
  ).catch(async (error: unknown) => {
    await started.stop()
    throw new Error(`${(error as Error).message}\n${started.output()}`)
  })

  return {
    prefix,
    pid: started.pid,
    trafficUrl: `http://127.0.0.1:${port}/`,
    config: {
      provider: 'nginx',
      upstreamFile,
      upstream,
      test: [binary, ...base, '-t', '-q'],
      reload: [binary, ...base, '-s', 'reload'],
    },
    pools: { blue: { servers: addresses.blue }, green: { servers: addresses.green } },
    upstreamFile,
    async workers() {
      const children = await readFile(`/proc/${started.pid}/task/${started.pid}/children`, 'utf8').catch(
        () => '',
      )
      return children.split(/\s+/).filter(Boolean).map(Number)
    },
    errorLog: () => readFile(errorLog, 'utf8').catch(() => ''),
    async stop() {
      await started.stop()
      await rm(prefix, { recursive: true, force: true })
    },
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
