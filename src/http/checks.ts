/**
 * Smoke checks before the switch: every check against every target of the inactive pool,
 * through a host override, so each target proves itself exactly as production will reach it
 * (production Host header, SNI and certificate) while nobody else can reach it yet.
 * One failing target×check fails the phase.
 */
import type { Dispatcher } from 'undici'
import { BluegreenError } from '../errors.js'
import { parseDuration } from '../format/duration.js'
import type { Check } from '../format/parts.js'
import { evaluate, excerpt, prepareExpect, type PreparedExpect } from './expect.js'
import { createOverrideDispatcher, insecureWarning, readCaFile } from './host-override.js'
import { NoAnswer, send } from './request.js'
import { sleep } from '../sleep.js'
import { fill, type Vars } from './template.js'

export interface SmokeTarget {
  id: string
  address: string
  port: number
}

export interface SmokeOptions {
  targets: SmokeTarget[]
  /** Production host name: Host header, SNI and the name the certificate must carry. */
  host: string
  scheme: 'http' | 'https'
  /** Port to dial on every target; default: the target's own port. */
  port?: number
  caFile?: string
  insecure: boolean
  concurrency: number
  /** How long one failing check on one target is retried (an attempt in flight may finish later). */
  deadlineMs: number
  checks: Check[]
  vars: Vars
  signal?: AbortSignal
  onEvent?: (event: SmokeEvent) => void
}

export interface SmokeResult {
  /** Target id. */
  target: string
  /** address:port that was dialled. */
  address: string
  check: string
  ok: boolean
  attempts: number
  status?: number
  latencyMs?: number
  /** What was wrong with the last attempt. */
  problem?: string
  /** First ~200 characters of the last failing answer. */
  excerpt?: string
}

export interface SmokeReport {
  ok: boolean
  results: SmokeResult[]
  warnings: string[]
  /** Set when the phase failed without any check result (no targets). */
  problem?: string
  durationMs: number
}

export type SmokeEvent =
  | { type: 'warning'; message: string }
  | { type: 'attempt'; target: string; check: string; attempt: number; problem: string; retryInMs: number }
  | { type: 'result'; result: SmokeResult }

/** A check with its variables filled, ready to send. */
interface PreparedCheck {
  name: string
  method: string
  path: string
  headers: Record<string, string>
  body?: string
  timeoutMs: number
  expect: PreparedExpect
}

const firstBackoffMs = 100
const maxBackoffMs = 2000

export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const started = Date.now()
  // Every template and pattern is checked before the first request, so a typo in the plan
  // fails here and not as N×M confusing check failures.
  const checks = options.checks.map((check, i) => prepareCheck(check, options.vars, `smoke.checks[${i}]`))
  const ca = await readCaFile(options.caFile, 'SMOKE_FAILED')
  const warnings: string[] = []
  const warn = (message: string): void => {
    warnings.push(message)
    options.onEvent?.({ type: 'warning', message })
  }
  if (options.insecure && options.scheme === 'https') warn(insecureWarning(options.host, 'smoke'))
  if (options.targets.length === 0) {
    return { ok: false, results: [], warnings, problem: 'the pool has no targets to check', durationMs: 0 }
  }

  // One dispatcher per target: all of them talk to the same origin (the production host), so
  // only the connector tells them apart.
  const dispatchers = await Promise.all(
    options.targets.map((target) =>
      createOverrideDispatcher({
        address: target.address,
        port: options.port ?? target.port,
        servername: options.host,
        ca,
        insecure: options.insecure,
        connectTimeoutMs: Math.max(...checks.map((c) => c.timeoutMs)),
      }),
    ),
  )
  try {
    // Check-major order, so the first checks of every target run before any target's second.
    const units = checks.flatMap((check) => options.targets.map((target, t) => ({ check, target, t })))
    const results = await mapBounded(units, options.concurrency, async ({ check, target, t }) => {
      const result = await runCheck(check, target, dispatchers[t], options)
      options.onEvent?.({ type: 'result', result })
      return result
    })
    return { ok: results.every((r) => r.ok), results, warnings, durationMs: Date.now() - started }
  } finally {
    await Promise.all(dispatchers.map((d) => d.destroy()))
  }
}

/** The error the smoke phase throws: one line per failing target×check. */
export function smokeFailure(report: SmokeReport): BluegreenError {
  const failed = report.results.filter((r) => !r.ok)
  const targets = new Set(failed.map((r) => r.target))
  const details = failed.map((r) => {
    const seen = r.excerpt ? `; answered: ${JSON.stringify(r.excerpt)}` : ''
    const attempts = `${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`
    return `target ${r.target} (${r.address}), check ${r.check}: ${r.problem ?? 'failed'} (${attempts})${seen}`
  })
  return new BluegreenError({
    code: 'SMOKE_FAILED',
    message: report.problem
      ? `smoke checks failed: ${report.problem}`
      : `smoke checks failed on ${targets.size} target${targets.size === 1 ? '' : 's'} of the inactive pool (${failed.length} of ${report.results.length} checks)`,
    details,
    hint: report.problem
      ? 'Check that the deploy phase put targets into the inactive pool.'
      : 'Nothing was switched: users never saw this version. Fix the failing targets (or the checks) and run the release again.',
  })
}

function prepareCheck(check: Check, vars: Vars, where: string): PreparedCheck {
  const path = fill(check.path, vars, `${where}.path`)
  const method = check.method.toUpperCase()
  return {
    name: check.name ?? `${method} ${path}`,
    method,
    path,
    headers: Object.fromEntries(
      Object.entries(check.headers ?? {}).map(([name, value]) => [
        name,
        fill(value, vars, `${where}.headers.${name}`),
      ]),
    ),
    body: check.body === undefined ? undefined : fill(check.body, vars, `${where}.body`),
    timeoutMs: parseDuration(check.timeout),
    expect: prepareExpect(check.expect, vars, `${where}.expect`),
  }
}

/** One check on one target, retried with backoff until it passes or its deadline passes. */
async function runCheck(
  check: PreparedCheck,
  target: SmokeTarget,
  dispatcher: Dispatcher,
  options: SmokeOptions,
): Promise<SmokeResult> {
  const deadline = Date.now() + options.deadlineMs
  const dialled = `${target.address}:${options.port ?? target.port}`
  // The URL names the production host, so undici sends `Host: <production host>`; the
  // dispatcher's connector is what sends the bytes to this target instead.
  const url = `${options.scheme}://${options.host}${check.path}`
  let backoff = firstBackoffMs
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted()
    const { permanent, ...seen } = await attemptCheck(check, url, dispatcher, options.signal)
    const remaining = deadline - Date.now()
    if (seen.ok || permanent || remaining <= 0) {
      return { target: target.id, address: dialled, check: check.name, attempts: attempt, ...seen }
    }
    const retryInMs = Math.min(backoff, remaining)
    options.onEvent?.({
      type: 'attempt',
      target: target.id,
      check: check.name,
      attempt,
      problem: seen.problem ?? 'failed',
      retryInMs,
    })
    await sleep(retryInMs, options.signal)
    backoff = Math.min(backoff * 2, maxBackoffMs)
  }
}

type Outcome = Pick<SmokeResult, 'ok' | 'status' | 'latencyMs' | 'problem' | 'excerpt'> & {
  permanent?: boolean
}

async function attemptCheck(
  check: PreparedCheck,
  url: string,
  dispatcher: Dispatcher,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  try {
    const answer = await send(dispatcher, {
      url,
      method: check.method,
      headers: check.headers,
      body: check.body,
      timeoutMs: check.timeoutMs,
      signal,
    })
    const problems = evaluate(check.expect, answer, {})
    if (problems.length === 0) return { ok: true, status: answer.status, latencyMs: answer.latencyMs }
    return {
      ok: false,
      status: answer.status,
      latencyMs: answer.latencyMs,
      problem: problems.join('; '),
      excerpt: excerpt(answer.body),
    }
  } catch (error) {
    if (error instanceof NoAnswer) return { ok: false, problem: error.problem, permanent: error.permanent }
    throw error
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the items' order. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return results
}
