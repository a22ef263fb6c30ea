/**
 * Host overrides, like `curl --resolve`: the request URL keeps the production host, so the Host
 * header, the TLS SNI and the certificate check are exactly what production clients get, while
 * undici's connector dials the address we choose (a target of the inactive pool). Nothing
 * touches DNS or /etc/hosts, and each override is local to one dispatcher.
 */
import { readFile } from 'node:fs/promises'
import type { Agent, Dispatcher } from 'undici'
import { loadUndici } from './undici.js'
import { BluegreenError, type ErrorCode } from '../errors.js'

export interface OverrideOptions {
  /** Where to connect instead of resolving the URL's host. Omitted: resolve normally. */
  address?: string
  port?: number
  /** The production host name: sent as TLS SNI and required in the certificate. */
  servername: string
  /** PEM CA bundle to verify against, instead of the system's roots. */
  ca?: string | Buffer
  /** Skip certificate verification; callers must warn (see insecureWarning). */
  insecure: boolean
  /** TCP + TLS handshake limit. */
  connectTimeoutMs?: number
}

/**
 * An undici Agent whose connector dials `address:port` whatever the URL says. Pass it as the
 * `dispatcher` of a request to `https://<production host>/…`. The caller closes it (`destroy()`),
 * or uses withOverride, which does.
 */
export async function createOverrideDispatcher(options: OverrideOptions): Promise<Agent> {
  const [{ Agent, buildConnector }, tls, net] = await Promise.all([
    loadUndici(),
    import('node:tls'),
    import('node:net'),
  ])
  const servername = stripPort(options.servername)
  const connect = buildConnector({
    ca: options.ca,
    rejectUnauthorized: !options.insecure,
    // Verified against the production name, not against the address dialled: this is the
    // check a browser would make, and it still works when the production "name" is an IP.
    checkServerIdentity: (_dialled, cert) => tls.checkServerIdentity(servername, cert),
    timeout: options.connectTimeoutMs ?? 10_000,
  })
  return new Agent({
    connect: (connectOptions, callback) => {
      connect(
        {
          ...connectOptions,
          hostname: options.address ?? connectOptions.hostname,
          port: options.port === undefined ? connectOptions.port : String(options.port),
          // SNI must be a DNS name (RFC 6066); for an IP host none is sent.
          servername: net.isIP(servername) ? undefined : servername,
        },
        callback,
      )
    },
  })
}

/** Runs `fn` with an override dispatcher and always releases its sockets. */
export async function withOverride<T>(
  options: OverrideOptions,
  fn: (dispatcher: Dispatcher) => Promise<T>,
): Promise<T> {
  const agent = await createOverrideDispatcher(options)
  try {
    return await fn(agent)
  } finally {
    // destroy, not close: a request abandoned on timeout must not keep the run waiting.
    await agent.destroy()
  }
}

/** Reads a PEM CA file named in the plan, with an error that says which file and why. */
export async function readCaFile(caFile: string | undefined, code: ErrorCode): Promise<Buffer | undefined> {
  if (caFile === undefined) return undefined
  try {
    return await readFile(caFile)
  } catch (error) {
    throw new BluegreenError({
      code,
      message: `cannot read caFile ${caFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      hint: 'Point caFile at a readable PEM file holding the CA that signed the production certificate.',
      cause: error,
    })
  }
}

/** The warning printed on every run that skips certificate verification. */
export function insecureWarning(host: string, phase: 'smoke' | 'verify'): string {
  return `${phase}: TLS certificate verification is OFF for ${host} (insecure: true in the plan); a wrong or expired certificate will not be noticed`
}

function stripPort(host: string): string {
  return host.replace(/^\[(.*)\](:\d+)?$/, '$1').replace(/^([^:]+):\d+$/, '$1')
}
