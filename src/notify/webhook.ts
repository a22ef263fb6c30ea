/**
 * One notification POSTed to one webhook: a bounded time per attempt, a bounded number of
 * attempts, exponential backoff between them. Retried only when another attempt can help: no
 * answer (refused, reset, timed out), 429 and 5xx. Another 4xx means the request itself is wrong
 * (a revoked Slack webhook answers 403 or 404, a bad payload 400) and asking again only adds load.
 * Never throws: the outcome is a Delivery.
 */
import type { Dispatcher } from 'undici'
import { NoAnswer, send } from '../http/request.js'
import { sleep } from '../sleep.js'
import { formatDuration } from '../format/duration.js'
import { scrubWebhookUrl, webhookLabel } from './webhook-url.js'

export interface WebhookTarget {
  url: string
  headers?: Record<string, string>
  timeoutMs: number
  attempts: number
}

export interface RetryPolicy {
  /** The wait after the first failed attempt; it doubles after each one. */
  backoffMs: number
  maxBackoffMs: number
  /** A Retry-After longer than this is shortened to it: a notification must not hold a command. */
  maxRetryAfterMs: number
}

export const defaultRetryPolicy: RetryPolicy = { backoffMs: 500, maxBackoffMs: 8000, maxRetryAfterMs: 10_000 }

export interface Delivery {
  /** The webhook as it may be shown: see webhookLabel. */
  webhook: string
  ok: boolean
  attempts: number
  /** The last HTTP status, when there was an answer. */
  status?: number
  ms: number
  /** Why it failed, in words, with the webhook's URL scrubbed. */
  problem?: string
}

type Attempt =
  | { ok: true; status: number }
  | { ok: false; status?: number; problem: string; retry: boolean; retryAfterMs?: number }

export async function deliver(
  dispatcher: Dispatcher,
  target: WebhookTarget,
  body: string,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<Delivery> {
  const started = performance.now()
  const done = (attempts: number, outcome: Attempt): Delivery => ({
    webhook: webhookLabel(target.url),
    ok: outcome.ok,
    attempts,
    ...(outcome.status === undefined ? {} : { status: outcome.status }),
    ms: Math.round(performance.now() - started),
    ...(outcome.ok ? {} : { problem: scrubWebhookUrl(outcome.problem, target.url) }),
  })
  let outcome: Attempt = { ok: false, problem: 'not sent', retry: false }
  for (let attempt = 1; attempt <= target.attempts; attempt++) {
    outcome = await attemptOnce(dispatcher, target, body, signal)
    if (outcome.ok || !outcome.retry || attempt === target.attempts) return done(attempt, outcome)
    const wait =
      outcome.retryAfterMs === undefined
        ? backoff(attempt, policy)
        : Math.min(outcome.retryAfterMs, policy.maxRetryAfterMs)
    try {
      await sleep(wait, signal)
    } catch {
      return done(attempt, { ...outcome, problem: `${outcome.problem}; then ${abandoned(signal)}` })
    }
  }
  return done(target.attempts, outcome)
}

async function attemptOnce(
  dispatcher: Dispatcher,
  target: WebhookTarget,
  body: string,
  signal: AbortSignal | undefined,
): Promise<Attempt> {
  try {
    const answer = await send(dispatcher, {
      url: target.url,
      method: 'POST',
      headers: withContentType(target.headers),
      body,
      timeoutMs: target.timeoutMs,
      signal,
    })
    const { status } = answer
    if (status >= 200 && status < 300) return { ok: true, status }
    const problem = `answered ${status}${snippet(answer.body)}`
    if (status === 429 || status >= 500) {
      return {
        ok: false,
        status,
        problem,
        retry: true,
        retryAfterMs: retryAfter(answer.headers['retry-after']),
      }
    }
    if (status >= 300 && status < 400) {
      return { ok: false, status, problem: `${problem} (redirects are not followed)`, retry: false }
    }
    return { ok: false, status, problem, retry: false }
  } catch (error) {
    if (signal?.aborted) return { ok: false, problem: abandoned(signal), retry: false }
    if (error instanceof NoAnswer) return { ok: false, problem: error.problem, retry: !error.permanent }
    return { ok: false, problem: error instanceof Error ? error.message : String(error), retry: true }
  }
}

/** JSON, unless the plan's headers say otherwise (in any letter case: undici would send both). */
function withContentType(headers: Record<string, string> | undefined): Record<string, string> {
  const own = Object.keys(headers ?? {}).some((name) => name.toLowerCase() === 'content-type')
  return own ? { ...headers } : { 'content-type': 'application/json', ...headers }
}

/** base, 2×base, 4×base … up to the cap, less up to a fifth at random so that senders spread out. */
function backoff(failedAttempt: number, policy: RetryPolicy): number {
  const full = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (failedAttempt - 1))
  return Math.round(full * (1 - Math.random() * 0.2))
}

/** Retry-After is either seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** The start of an answer's body, on one line; Slack says why there (`invalid_payload`, `no_service`). */
function snippet(body: string): string {
  const line = body.replace(/\s+/g, ' ').trim()
  if (line === '' || line.startsWith('<')) return ''
  return `: ${line.length > 200 ? `${line.slice(0, 199)}…` : line}`
}

function abandoned(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason
  if (reason instanceof FlushTimeout)
    return `abandoned: still unsent when the ${formatDuration(reason.waitedMs)} wait for notifications ran out`
  return 'abandoned: interrupted'
}

/** The abort reason when flush stops waiting for a notification. */
export class FlushTimeout extends Error {
  constructor(readonly waitedMs: number) {
    super(`notifications still unsent after ${formatDuration(waitedMs)}`)
    this.name = 'FlushTimeout'
  }
}
