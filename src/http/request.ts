/**
 * One HTTP request through a dispatcher, turned into either an HttpAnswer or a NoAnswer that
 * says in plain words what went wrong (refused, reset, timed out, certificate not valid for the
 * name). Interruption by the caller's signal is rethrown, never reported as a failed check.
 */
import type { Dispatcher } from 'undici'
import { loadUndici } from './undici.js'
import { formatDuration } from '../format/duration.js'
import type { HttpAnswer } from './expect.js'

export interface RequestSpec {
  url: string
  method: string
  headers?: Record<string, string>
  body?: string
  timeoutMs: number
  signal?: AbortSignal
}

/** A request that got no HTTP answer. `permanent`: retrying cannot help (a TLS name mismatch). */
export class NoAnswer extends Error {
  constructor(
    readonly problem: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(problem, options)
    this.name = 'NoAnswer'
  }
}

/** Bodies are read up to this size: enough for any check, bounded against a runaway endpoint. */
const maxBodyBytes = 1024 * 1024

class RequestTimeout extends Error {}

export async function send(dispatcher: Dispatcher, spec: RequestSpec): Promise<HttpAnswer> {
  const { request } = await loadUndici()
  const timer = new AbortController()
  const timeout = setTimeout(() => timer.abort(new RequestTimeout()), spec.timeoutMs)
  const signal = spec.signal ? AbortSignal.any([timer.signal, spec.signal]) : timer.signal
  const started = performance.now()
  try {
    const response = await request(spec.url, {
      dispatcher,
      method: spec.method,
      headers: { 'user-agent': 'bluegreen', ...spec.headers },
      body: spec.body,
      signal,
    })
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      chunks.push(chunk)
      size += chunk.length
      if (size >= maxBodyBytes) break
    }
    return {
      status: response.statusCode,
      headers: flattenHeaders(response.headers),
      body: Buffer.concat(chunks).toString('utf8'),
      latencyMs: Math.round(performance.now() - started),
    }
  } catch (error) {
    if (spec.signal?.aborted) throw spec.signal.reason
    if (timer.signal.aborted) {
      throw new NoAnswer(`no answer within ${formatDuration(spec.timeoutMs)}`, false, { cause: error })
    }
    throw describe(error)
  } finally {
    clearTimeout(timeout)
  }
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return flat
}

const untrusted = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
])

/** Node and undici error codes, in the words an operator needs. */
function describe(error: unknown): NoAnswer {
  const code = errorCode(error)
  const message = error instanceof Error ? error.message : String(error)
  const as = (problem: string, permanent = false): NoAnswer =>
    new NoAnswer(problem, permanent, { cause: error })
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const { host, cert } = error as { host?: string; cert?: { subjectaltname?: string } }
    return as(
      `TLS certificate is not valid for ${host ?? 'this name'}: it names ${cert?.subjectaltname ?? message}`,
      true,
    )
  }
  if (code && untrusted.has(code)) {
    return as(`TLS certificate is not trusted (${code}); give caFile with the CA that signed it`, true)
  }
  if (code === 'CERT_HAS_EXPIRED') return as('TLS certificate has expired', true)
  if (code === 'CERT_NOT_YET_VALID') return as('TLS certificate is not valid yet', true)
  if (code === 'ECONNREFUSED') return as('connection refused')
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE')
    return as(`connection reset (${message})`)
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return as('connect timed out')
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return as('no answer in time')
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return as(`host name does not resolve (${message})`)
  return as(code ? `${message} (${code})` : message)
}

/** The innermost code: undici wraps socket errors, and the cause says more (ECONNRESET). */
function errorCode(error: unknown): string | undefined {
  let found: string | undefined
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as NodeJS.ErrnoException).code
    if (typeof code === 'string') found = code
    current = current.cause
  }
  return found
}
