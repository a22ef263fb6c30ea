/**
 * Reads and rewrites one `upstream <name> { … }` block inside an nginx include file, leaving the
 * rest of the file as it was. Inside the block, the directives that are not `server` lines
 * (keepalive, zone, least_conn, …) are kept; the pools' server lines are written by bluegreen,
 * keeping their other parameters (max_fails=, fail_timeout=, …) but not their weight, down or
 * backup flags, which are how the switch is expressed. Comments inside the block are not kept.
 */

export interface UpstreamServer {
  address: string
  /** nginx's weight (default 1); 0 when the server is marked down or backup (it gets no share). */
  weight: number
  down: boolean
  backup: boolean
  /** Other parameters, verbatim. */
  params: string[]
  /** The whole statement as written, without the semicolon. */
  statement: string
}

export interface UpstreamBlock {
  /** Offsets of the whole block, from `upstream` to its closing brace, in the file's text. */
  start: number
  end: number
  directives: string[]
  servers: UpstreamServer[]
}

/** Finds the block, or returns undefined when the file has no upstream of that name. */
export function findUpstream(text: string, name: string): UpstreamBlock | undefined {
  const masked = maskComments(text)
  const opening = /(^|[\s;{}])upstream\s+([^\s{;]+)\s*\{/g
  for (let match = opening.exec(masked); match; match = opening.exec(masked)) {
    if (match[2] !== name) continue
    const start = match.index + match[1].length
    const open = match.index + match[0].length - 1
    const close = matchingBrace(masked, open)
    if (close < 0) return undefined
    const statements = masked
      .slice(open + 1, close)
      .split(';')
      .map((s) => s.trim().split(/\s+/).filter(Boolean))
      .filter((tokens) => tokens.length > 0)
    return {
      start,
      end: close + 1,
      directives: statements.filter((t) => t[0] !== 'server').map((t) => t.join(' ')),
      servers: statements.filter((t) => t[0] === 'server' && t[1]).map((t) => parseServer(t[1], t.slice(2))),
    }
  }
  return undefined
}

function parseServer(address: string, params: string[]): UpstreamServer {
  const weightParam = params.find((p) => p.startsWith('weight='))
  const down = params.includes('down')
  const backup = params.includes('backup')
  const weight = down || backup ? 0 : weightParam ? Number(weightParam.slice('weight='.length)) : 1
  return {
    address,
    weight: Number.isFinite(weight) ? weight : 0,
    down,
    backup,
    params: params.filter((p) => !p.startsWith('weight=') && p !== 'down' && p !== 'backup'),
    statement: ['server', address, ...params].join(' '),
  }
}

/**
 * Renders the block. `servers` are the pools' servers with the weight to write (0 is written as
 * `down`, see nginx.ts for why); `others` are statements kept as they were.
 */
export function renderUpstream(
  name: string,
  directives: string[],
  servers: { address: string; weight: number; params: string[] }[],
  others: string[],
  note: string,
): string {
  const lines = [`upstream ${name} {`, `    # ${note}`]
  for (const directive of directives) lines.push(`    ${directive};`)
  for (const server of servers) {
    const flag = server.weight > 0 ? `weight=${server.weight}` : 'down'
    lines.push(`    ${['server', server.address, flag, ...server.params].join(' ')};`)
  }
  for (const statement of others) lines.push(`    ${statement};`)
  lines.push('}')
  return lines.join('\n')
}

export function replaceBlock(text: string, block: UpstreamBlock, rendered: string): string {
  return text.slice(0, block.start) + rendered + text.slice(block.end)
}

/** `host` and `host:80` are the same server to nginx. */
export function sameAddress(a: string, b: string): boolean {
  const withPort = (address: string) =>
    address.startsWith('unix:') || /:\d+$/.test(address) ? address : `${address}:80`
  return withPort(a) === withPort(b)
}

/** Replaces comments with spaces, keeping offsets, so braces and semicolons in them do not count. */
function maskComments(text: string): string {
  let out = ''
  let quote: string | undefined
  let comment = false
  for (const c of text) {
    if (comment) {
      if (c === '\n') comment = false
      out += c === '\n' ? c : ' '.repeat(c.length)
    } else if (quote) {
      if (c === quote) quote = undefined
      out += c
    } else if (c === '#') {
      comment = true
      out += ' '
    } else {
      if (c === '"' || c === "'") quote = c
      out += c
    }
  }
  return out
}

function matchingBrace(text: string, open: number): number {
  let depth = 0
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++
    else if (text[i] === '}' && --depth === 0) return i
  }
  return -1
}
