/**
 * Retrying what lock_timeout cut short. A DDL statement that waits for a lock makes every later
 * query on the table wait behind it, so each attempt waits at most lock_timeout, gives up, lets
 * the application through, and tries again after a growing, jittered pause (jitter keeps two
 * runners from retrying in lockstep).
 */
import { BluegreenError } from '../errors.js'
import { abortableSleep, isLockTimeout } from './client.js'

export interface RetryPolicy {
  /** Attempts in all, including the first. Default 8. */
  attempts: number
  /** Pause before the first retry. Default 200 ms. */
  baseDelayMs: number
  /** Longest pause. Default 10 s. */
  maxDelayMs: number
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 8, baseDelayMs: 200, maxDelayMs: 10_000 }

/** The pause after failed attempt `attempt` (1-based): exponential, capped, with "equal jitter". */
export function retryDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

export interface RetryInfo {
  attempt: number
  attempts: number
  delayMs: number
  reason: string
}

/**
 * Runs `attempt` until it succeeds; a lock timeout is retried after a pause (reported through
 * `onRetry`), any other error is thrown at once. After the last attempt the lock timeout error
 * is thrown as is, for the caller to explain.
 */
export async function retryOnLockTimeout<T>(
  policy: RetryPolicy,
  attempt: (attempt: number) => Promise<T>,
  options: { signal?: AbortSignal; onRetry?: (info: RetryInfo) => void } = {},
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n)
    } catch (error) {
      if (!isLockTimeout(error) || n >= policy.attempts) throw error
      const delayMs = retryDelay(n, policy)
      options.onRetry?.({
        attempt: n + 1,
        attempts: policy.attempts,
        delayMs,
        reason: (error as Error).message,
      })
      await abortableSleep(delayMs, options.signal)
    }
  }
}

/** The error a user sees when every attempt timed out waiting for its lock. */
export function lockTimeoutError(options: {
  what: string
  attempts: number
  lockTimeoutMs: number
  cause: unknown
}): BluegreenError {
  return new BluegreenError({
    code: 'LOCK_TIMEOUT',
    message: `${options.what}: no lock after ${options.attempts} attempts of ${options.lockTimeoutMs} ms each (${(options.cause as Error).message})`,
    hint: 'another session holds a conflicting lock, often a long or idle-in-transaction one (see pg_stat_activity and pg_locks); end it or retry later, or raise database.retries',
    cause: options.cause,
  })
}
