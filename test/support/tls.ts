/**
 * TLS for tests, made fresh at test time with the `openssl` CLI (nothing secret is committed):
 * a throwaway CA and certificates it signs for the names asked, plus an HTTPS app server that
 * picks its certificate by SNI and records, per request, the SNI and Host header it saw.
 * Call haveBinary('openssl') first.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSecureContext, type TLSSocket } from 'node:tls'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface KeyPair {
  cert: string
  key: string
}

export interface TestPki {
  dir: string
  /** Path of the CA certificate (PEM), for `caFile`. */
  caFile: string
  /** Certificate and key per DNS name, each signed by the CA. */
  certs: Record<string, KeyPair>
  remove(): Promise<void>
}

/** A CA and one certificate per name (EC P-256, valid two days). */
export async function createTestPki(names: string[]): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'bluegreen-tls-'))
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  const caFile = join(dir, 'ca.crt')
  const caKey = join(dir, 'ca.key')
  await run('openssl', [
    'req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2',
    '-subj', '/CN=bluegreen test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]) // prettier-ignore
  const certs: Record<string, KeyPair> = {}
  for (const name of names) {
    const base = join(dir, name)
    await writeFile(
      `${base}.ext`,
      `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
    )
    await run('openssl', [
      'req',
      '-new',
      ...ec,
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.csr`,
      '-subj',
      `/CN=${name}`,
    ])
    await run('openssl', [
      'x509', '-req', '-in', `${base}.csr`, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial',
      '-days', '2', '-out', `${base}.crt`, '-extfile', `${base}.ext`,
    ]) // prettier-ignore
    certs[name] = { cert: await readFile(`${base}.crt`, 'utf8'), key: await readFile(`${base}.key`, 'utf8') }
  }
  return { dir, caFile, certs, remove: () => rm(dir, { recursive: true, force: true }) }
}

export interface Seen {
  /** The SNI the client sent, or false when it sent none. */
  servername: string | false
  host: string
  path: string
}

export interface HttpsTestApp {
  address: string
  port: number
  pool: string
  version: string
  /** Every request, with the SNI of its connection. */
  seen: Seen[]
  setVersion(version: string): void
  close(): Promise<void>
}

/**
 * An HTTPS app server answering like test/support/http-app.ts (/healthz, /version as JSON,
 * anything else as text, with x-pool and x-version headers). `certs` are offered by SNI;
 * a client with an unknown or no SNI gets `defaultName`'s certificate.
 */
export async function startHttpsApp(options: {
  pool: string
  version: string
  certs: Record<string, KeyPair>
  defaultName: string
}): Promise<HttpsTestApp> {
  const contexts = new Map(
    Object.entries(options.certs).map(([name, pair]) => [name, createSecureContext(pair)]),
  )
  const fallback = options.certs[options.defaultName]
  if (!fallback) throw new Error(`no certificate for ${options.defaultName}`)
  const sockets = new Set<Socket>()
  const app: HttpsTestApp = {
    address: '127.0.0.1',
    port: 0,
    pool: options.pool,
    version: options.version,
    seen: [],
    setVersion: (version) => (app.version = version),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
  const server: Server = createServer(
    {
      ...fallback,
      SNICallback: (servername, callback) =>
        callback(null, contexts.get(servername) ?? contexts.get(options.defaultName)),
    },
    (req, res) => {
      const servername = (req.socket as TLSSocket).servername
      app.seen.push({ servername: servername ?? false, host: req.headers.host ?? '', path: req.url ?? '' })
      const headers = { 'x-pool': app.pool, 'x-version': app.version, 'x-sni': String(servername) }
      if (req.url === '/version') {
        res
          .writeHead(200, { ...headers, 'content-type': 'application/json' })
          .end(JSON.stringify({ app: 'test', pool: app.pool, version: app.version }))
      } else if (req.url === '/healthz') {
        res.writeHead(200, { ...headers, 'content-type': 'text/plain' }).end('ok')
      } else {
        res
          .writeHead(200, { ...headers, 'content-type': 'text/plain' })
          .end(`version ${app.version} from ${app.pool}\n`)
      }
    },
  )
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  app.port = (server.address() as AddressInfo).port
  return app
}
