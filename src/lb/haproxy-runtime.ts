/**
 * A client for HAProxy's runtime API (the "stats socket"): one command per connection, which is
 * HAProxy's non-interactive mode: it answers and closes, so no prompt parsing and no state.
 * Also the parsers for the two answers the adapter reads: `show servers state` and `show stat`.
 */
import { connect, type NetConnectOpts } from 'node:net'
import { BluegreenError } from '../errors.js'

export type RuntimeApiAddress = { path: string } | { host: string; port: number }

/** `unix:/run/haproxy.sock`, `/run/haproxy.sock`, `127.0.0.1:9999`, `[::1]:9999`. */
export function parseRuntimeApi(address: string): RuntimeApiAddress {
  if (address.startsWith('unix:')) return { path: address.slice('unix:'.length) }
  const withoutPrefix = address.replace(/^(ipv4|ipv6|tcp)@/, '')
  const tcp = /^\[?([^[\]]*?)\]?:(\d+)$/.exec(withoutPrefix)
  if (tcp && !withoutPrefix.startsWith('/') && !withoutPrefix.startsWith('.')) {
    return { host: tcp[1], port: Number(tcp[2]) }
  }
  return { path: address }
}

export async function runtimeCommand(address: string, command: string, timeoutMs = 5000): Promise<string> {
  const target = parseRuntimeApi(address)
  const options: NetConnectOpts =
    'path' in target ? { path: target.path } : { host: target.host, port: target.port }
  return new Promise((resolve, reject) => {
    const socket = connect(options)
    let reply = ''
    socket.setEncoding('utf8')
    socket.setTimeout(timeoutMs, () => {
      socket.destroy()
      reject(
        new BluegreenError({
          code: 'LB_UNREACHABLE',
          message: `HAProxy runtime API at ${address} did not answer "${command}" within ${timeoutMs} ms`,
          hint: 'Check that HAProxy is running and not overloaded, and that loadBalancer.runtimeApi points at its stats socket',
        }),
      )
    })
    socket.on('connect', () => socket.write(`${command}\n`))
    socket.on('data', (chunk: string) => (reply += chunk))
    socket.on('end', () => {
      socket.destroy()
      resolve(reply)
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      socket.destroy()
      reject(unreachable(address, error))
    })
  })
}

/**
 * The haproxy.cfg line that opens the runtime API at `address` (loadBalancer.runtimeApi), in
 * HAProxy's own syntax: haproxy.cfg takes a socket as a bare path (or unix@path), and refuses
 * the `unix:` prefix that runtimeApi accepts ("invalid character '/' in port number", 2.6).
 */
export function statsSocketLine(address: string): string {
  const target = parseRuntimeApi(address)
  return 'path' in target
    ? `stats socket ${target.path} mode 600 level admin`
    : `stats socket ${target.host.includes(':') ? `ipv6@[${target.host}]` : `ipv4@${target.host}`}:${target.port} level admin`
}

function unreachable(address: string, error: NodeJS.ErrnoException): BluegreenError {
  const configure = `add "${statsSocketLine(address)}" to the global section of haproxy.cfg`
  const hints: Record<string, string> = {
    ENOENT: `No socket at ${address}: is HAProxy running? Otherwise ${configure}`,
    ECONNREFUSED: `Nothing listens at ${address}: is HAProxy running? Otherwise ${configure}`,
    EACCES: `No permission to open ${address}: run as a user that may (see "stats socket … mode/user/group")`,
  }
  return new BluegreenError({
    code: 'LB_UNREACHABLE',
    message: `cannot reach the HAProxy runtime API at ${address}: ${error.code ?? error.message}`,
    hint: hints[error.code ?? ''] ?? `Check loadBalancer.runtimeApi; ${configure}`,
    cause: error,
  })
}

export interface ServerState {
  backend: string
  /** srv_id: what stick-table entries (server_id) name the server by. */
  id: number
  name: string
  address: string
  port: number
  /** 0 stopped, 1 starting, 2 running, 3 stopping (health, not intent). */
  opState: number
  /** Bit flags: maintenance (forced, inherited, config, DNS) and drain; 0 means ready. */
  adminState: number
  /** The weight set in the config or by `set server … weight`. */
  weight: number
}

/** Parses `show servers state [backend]` (format version 1). Returns undefined if it is not that format. */
export function parseServersState(reply: string): ServerState[] | undefined {
  const lines = reply.split('\n')
  if (lines[0]?.trim() !== '1' || !lines[1]?.startsWith('# ')) return undefined
  const columns = lines[1].slice(2).trim().split(/\s+/)
  const at = (fields: string[], name: string): string => fields[columns.indexOf(name)] ?? ''
  return lines
    .slice(2)
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const fields = line.trim().split(/\s+/)
      return {
        backend: at(fields, 'be_name'),
        id: Number(at(fields, 'srv_id')),
        name: at(fields, 'srv_name'),
        address: at(fields, 'srv_addr'),
        port: Number(at(fields, 'srv_port')),
        opState: Number(at(fields, 'srv_op_state')),
        adminState: Number(at(fields, 'srv_admin_state')),
        weight: Number(at(fields, 'srv_uweight')),
      }
    })
}

/** Parses `show stat` CSV into records keyed by column name. Returns undefined if it is not CSV stats. */
export function parseStat(reply: string): Record<string, string>[] | undefined {
  const lines = reply.split('\n').filter((line) => line.trim() !== '')
  if (!lines[0]?.startsWith('# pxname,')) return undefined
  const columns = splitCsv(lines[0].slice(2))
  return lines.slice(1).map((line) => {
    const fields = splitCsv(line)
    return Object.fromEntries(columns.map((column, i) => [column, fields[i] ?? '']))
  })
}

function splitCsv(line: string): string[] {
  const fields: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      fields.push(field)
      field = ''
    } else field += c
  }
  fields.push(field)
  return fields
}
