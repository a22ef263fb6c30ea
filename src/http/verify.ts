/**
 * Verify after the switch: production itself must show that the new version is what answers.
 * The production URL is sampled at an interval for the bake time. It passes when the error ratio
 * stays within the limit and, when a version marker is given, the last answers carried it N
 * times in a row: that is the proof the switch really happened, and not merely that *something*
 * answers 200. It fails at once after `failAfter` consecutive failures.
 */
import type { Dispatcher } from 'undici'
import { BluegreenError } from '../errors.js'
import { formatDuration } from '../format/duration.js'
import type { Expect } from '../format/parts.js'
import { evaluate, excerpt, prepareExpect, type HttpAnswer } from './expect.js'
import { withMetricChecks, type MetricChecks, type MetricSettings } from './metric-checks.js'
import { prometheusChecks } from './metric-schema.js'
import { parseHostPort } from '../format/host-port.js'
import { createOverrideDispatcher, insecureWarning, readCaFile } from './host-override.js'
import { NoAnswer, send } from './request.js'
import { sleep } from '../sleep.js'
import { fill, type Vars } from './template.js'

export interface VerifyOptions {
  /** The production URL. */
  url: string
  /** Bake time. */
  forMs: number
  intervalMs: number
  /** host:port to connect to instead of resolving the URL's host (like curl --resolve). */
  resolve?: string
  caFile?: string
  insecure: boolean
  expect: Expect
  /** Text (e.g. "{{version}}") that proves the new version answered: looked for in the body and header values. */
  versionMarker?: string
  /** Consecutive answers carrying the marker needed to pass. */
  versionSeen: number
  maxErrorRatio: number
  /** Consecutive failed samples that fail verify at once. */
  failAfter: number
  /** Per request. */
  timeoutMs: number
  vars: Vars
  /**
   * Return ok as soon as the marker streak is reached instead of baking for `forMs` (rollback
   * uses this to confirm quickly that production answers from the standby pool). Without a
   * marker, any passing answer counts towards the streak.
   */
  untilVersionSeen?: boolean
  /**
   * Prometheus queries and CloudWatch alarms checked beside the URL at every interval: a round
   * that fails counts like a failed request. Rollback's confirmation passes none (an alarm is
   * still in ALARM right after the failure that caused the rollback).
   */
  metrics?: MetricSettings
  signal?: AbortSignal
  onSample?: (sample: VerifySample) => void
}

export interface VerifySample {
  /** 1-based sample number. */
  n: number
  elapsedMs: number
  ok: boolean
  status?: number
  latencyMs?: number
  problem?: string
  /** Whether this answer carried the version marker. */
  markerSeen: boolean
  versionStreak: number
  errors: number
  /** Start of the body, when the sample failed or lacked the marker. */
  excerpt?: string
  /** Each metric query's value this interval (none without metric checks). */
  metrics?: { query: string; value?: number }[]
}

export interface VerifyReport {
  ok: boolean
  samples: number
  errors: number
  errorRatio: number
  versionStreak: number
  reason?: string
  warnings: string[]
  durationMs: number
  /** The last answer that did not carry the marker, described: what production served instead. */
  lastWithoutMarker?: string
}

export async function verifyProduction(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now()
  const url = parseUrl(fill(options.url, options.vars, 'verify.url'))
  const expect = prepareExpect(options.expect, options.vars, 'verify.expect')
  const marker =
    options.versionMarker === undefined
      ? undefined
      : fill(options.versionMarker, options.vars, 'verify.versionMarker')
  const ca = await readCaFile(options.caFile, 'VERIFY_FAILED')
  const warnings: string[] = []
  if (options.insecure && url.protocol === 'https:') warnings.push(insecureWarning(url.host, 'verify'))
  const override = options.resolve === undefined ? {} : parseHostPort(options.resolve)

  const dispatcher = await createOverrideDispatcher({
    ...override,
    servername: url.hostname,
    ca,
    insecure: options.insecure,
    connectTimeoutMs: options.timeoutMs,
  })
  try {
    if (!options.metrics) return await bake(undefined)
    const metrics = fillQueries(options.metrics, options.vars)
    return await withMetricChecks(metrics, (checks) => bake(checks.any ? checks : undefined))
  } finally {
    await dispatcher.destroy()
  }

  async function bake(checks: MetricChecks | undefined): Promise<VerifyReport> {
    const state = {
      samples: 0,
      errors: 0,
      failuresInRow: 0,
      streak: 0,
      lastProblem: '',
      lastWithoutMarker: undefined as string | undefined,
    }
    const report = (ok: boolean, reason?: string): VerifyReport => ({
      ok,
      samples: state.samples,
      errors: state.errors,
      errorRatio: state.samples === 0 ? 0 : state.errors / state.samples,
      versionStreak: state.streak,
      reason,
      warnings,
      durationMs: Date.now() - started,
      lastWithoutMarker: state.lastWithoutMarker,
    })
    const end = started + options.forMs

    for (let n = 1; ; n++) {
      options.signal?.throwIfAborted()
      // The request and the metric checks at once: an interval waits for the slower of the two.
      const [answered, round] = await Promise.all([
        takeSample(dispatcher, url.href, options, expect, marker),
        checks?.sample(options.signal),
      ])
      const sample = round && !round.ok ? withMetricProblems(answered, round.problems) : answered
      state.samples++
      if (sample.ok) {
        state.failuresInRow = 0
        // Failed samples neither count towards the streak nor break it; an answer without the
        // marker (the old version still answering) does.
        if (marker === undefined || sample.markerSeen) state.streak++
        else {
          state.streak = 0
          state.lastWithoutMarker = sample.described
        }
      } else {
        state.errors++
        state.failuresInRow++
        state.lastProblem = sample.problem ?? 'failed'
      }
      options.onSample?.({
        n,
        elapsedMs: Date.now() - started,
        ok: sample.ok,
        status: sample.status,
        latencyMs: sample.latencyMs,
        problem: sample.problem,
        markerSeen: sample.markerSeen,
        versionStreak: state.streak,
        errors: state.errors,
        excerpt: sample.ok && (marker === undefined || sample.markerSeen) ? undefined : sample.excerpt,
        metrics: round?.values,
      })

      // A query that cannot be evaluated (it does not parse) will not get better: fail now.
      if (round?.permanent) return report(false, round.permanent)

      if (state.failuresInRow >= options.failAfter) {
        return report(false, `${state.failuresInRow} failed samples in a row; last: ${state.lastProblem}`)
      }
      if (options.untilVersionSeen && state.streak >= options.versionSeen && withinRatio(state, options)) {
        return report(true)
      }
      const nextAt = started + n * options.intervalMs
      if (nextAt >= end) break
      await sleep(Math.max(0, nextAt - Date.now()), options.signal)
    }

    if (!withinRatio(state, options)) {
      const ratio = state.errors / state.samples
      return report(
        false,
        `error ratio ${percent(ratio)} (${state.errors} of ${state.samples} samples) is above the limit of ${percent(options.maxErrorRatio)}; last: ${state.lastProblem}`,
      )
    }
    const needed = options.untilVersionSeen || marker !== undefined
    if (needed && state.streak < options.versionSeen) {
      const what = marker === undefined ? 'a passing answer' : `the version marker ${JSON.stringify(marker)}`
      const seen = state.lastWithoutMarker
        ? `production answered: ${state.lastWithoutMarker}`
        : `last problem: ${state.lastProblem || 'none'}`
      return report(
        false,
        `did not see ${what} ${options.versionSeen} times in a row within ${formatDuration(options.forMs)} (streak at the end: ${state.streak}); ${seen}`,
      )
    }
    return report(true)
  }
}

/** The error the verify phase throws. */
export function verifyFailure(report: VerifyReport, url: string): BluegreenError {
  return new BluegreenError({
    code: 'VERIFY_FAILED',
    message: `verify failed for ${url}: ${report.reason ?? 'failed'}`,
    details: [
      `${report.samples} samples, ${report.errors} failed (${percent(report.errorRatio)}), version streak ${report.versionStreak}`,
    ],
    hint: 'Production did not prove the new version healthy. Its last problem is in the message; if traffic was not switched back automatically, run `bluegreen rollback`.',
  })
}

interface Sample {
  ok: boolean
  status?: number
  latencyMs?: number
  problem?: string
  markerSeen: boolean
  excerpt?: string
  /** One line saying what answered: status, version-like headers, body excerpt. */
  described?: string
}

async function takeSample(
  dispatcher: Dispatcher,
  url: string,
  options: VerifyOptions,
  expect: ReturnType<typeof prepareExpect>,
  marker: string | undefined,
): Promise<Sample> {
  let answer: HttpAnswer
  try {
    answer = await send(dispatcher, {
      url,
      method: 'GET',
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    })
  } catch (error) {
    if (error instanceof NoAnswer) return { ok: false, problem: error.problem, markerSeen: false }
    throw error
  }
  const problems = evaluate(expect, answer, options.vars)
  const markerSeen =
    marker !== undefined &&
    (answer.body.includes(marker) || Object.values(answer.headers).some((v) => v.includes(marker)))
  return {
    ok: problems.length === 0,
    status: answer.status,
    latencyMs: answer.latencyMs,
    problem: problems.length ? problems.join('; ') : undefined,
    markerSeen,
    excerpt: excerpt(answer.body),
    described: describeAnswer(answer),
  }
}

/** Queries may name the release: `{pool="{{pool}}"}`, `{version="{{version}}"}`. */
function fillQueries(settings: MetricSettings, vars: Vars): MetricSettings {
  const prometheus = prometheusChecks(settings.metrics).map((check) => ({
    ...check,
    query: fill(check.query, vars, 'verify.prometheus.query'),
  }))
  return {
    ...settings,
    metrics: { ...settings.metrics, prometheus: prometheus.length ? prometheus : undefined },
  }
}

/**
 * A sample whose metric round failed: failed, with the metric problems after any of the request's.
 * The answer itself (marker, excerpt) stays as it was: production did answer.
 */
function withMetricProblems(sample: Sample, problems: string[]): Sample {
  return { ...sample, ok: false, problem: [sample.problem, ...problems].filter(Boolean).join('; ') }
}

/** Headers that usually say which build answered; shown when the marker was missing. */
const versionHeader = /version|revision|build|commit|release|pool/i

function describeAnswer(answer: HttpAnswer): string {
  const headers = Object.entries(answer.headers)
    .filter(([name]) => versionHeader.test(name))
    .map(([name, value]) => `${name}: ${value}`)
  return [`status ${answer.status}`, ...headers, `body ${JSON.stringify(excerpt(answer.body, 120))}`].join(
    ', ',
  )
}

function withinRatio(state: { samples: number; errors: number }, options: VerifyOptions): boolean {
  return state.samples === 0 || state.errors / state.samples <= options.maxErrorRatio
}

function percent(ratio: number): string {
  return `${+(ratio * 100).toFixed(1)}%`
}

function parseUrl(text: string): URL {
  try {
    return new URL(text)
  } catch (error) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `verify.url is not a URL: ${text}`,
      hint: 'Write the full production URL, e.g. https://shop.example.com/healthz.',
      cause: error,
    })
  }
}
