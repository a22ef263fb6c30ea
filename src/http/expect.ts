/**
 * What a response must look like: one piece of code shared by the smoke checks (before the
 * switch) and by verify (after it), so both phases judge an answer the same way.
 */
import { isDeepStrictEqual } from 'node:util'
import type { Expect } from '../format/parts.js'
import { parseDuration, formatDuration } from '../format/duration.js'
import { fill, fillDeep, fillPattern, type Vars } from './template.js'

/** An HTTP answer as the expectations see it. Header names are lower case. */
export interface HttpAnswer {
  status: number
  headers: Record<string, string>
  body: string
  /** From sending the request to the end of the body. */
  latencyMs: number
}

/** An expectation with its variables filled and its patterns compiled. */
export interface PreparedExpect {
  /** Undefined: any 2xx. */
  status?: number[]
  headers: [name: string, value: string][]
  headersMatch: [name: string, pattern: RegExp][]
  bodyContains?: string
  bodyMatches?: RegExp
  json: { path: string; equals: unknown }[]
  maxLatencyMs?: number
}

/**
 * Fills `{{vars}}` and compiles patterns. Throws a PLAN_INVALID BluegreenError for an unknown
 * variable or a bad pattern, so callers run it before sending anything.
 */
export function prepareExpect(expect: Expect, vars: Vars, where = 'expect'): PreparedExpect {
  const headerEntries = (record: Record<string, string> | undefined): [string, string][] =>
    Object.entries(record ?? {}).map(([name, value]) => [name.toLowerCase(), value])
  return {
    status: expect.status === undefined ? undefined : [expect.status].flat(),
    headers: headerEntries(expect.headers).map(([name, value]) => [
      name,
      fill(value, vars, `${where}.headers.${name}`),
    ]),
    headersMatch: headerEntries(expect.headersMatch).map(([name, pattern]) => [
      name,
      fillPattern(pattern, vars, `${where}.headersMatch.${name}`),
    ]),
    bodyContains:
      expect.bodyContains === undefined
        ? undefined
        : fill(expect.bodyContains, vars, `${where}.bodyContains`),
    bodyMatches:
      expect.bodyMatches === undefined
        ? undefined
        : fillPattern(expect.bodyMatches, vars, `${where}.bodyMatches`),
    json: (expect.json ?? []).map((entry, i) => ({
      path: entry.path,
      equals: fillDeep(entry.equals, vars, `${where}.json[${i}].equals`),
    })),
    maxLatencyMs: expect.maxLatency === undefined ? undefined : parseDuration(expect.maxLatency),
  }
}

/** Every way `answer` falls short of `expect`; empty when it passes. */
export function evaluate(expect: Expect | PreparedExpect, answer: HttpAnswer, vars: Vars): string[] {
  const prepared = isPrepared(expect) ? expect : prepareExpect(expect, vars)
  const problems: string[] = []

  if (prepared.status === undefined) {
    if (answer.status < 200 || answer.status > 299) problems.push(`status ${answer.status}, expected 2xx`)
  } else if (!prepared.status.includes(answer.status)) {
    const wanted =
      prepared.status.length === 1 ? `${prepared.status[0]}` : `one of ${prepared.status.join(', ')}`
    problems.push(`status ${answer.status}, expected ${wanted}`)
  }

  for (const [name, value] of prepared.headers) {
    const seen = answer.headers[name]
    if (seen === undefined) problems.push(`header ${name} is missing, expected ${quote(value)}`)
    else if (seen !== value) problems.push(`header ${name} is ${quote(seen)}, expected ${quote(value)}`)
  }
  for (const [name, pattern] of prepared.headersMatch) {
    const seen = answer.headers[name]
    if (seen === undefined) problems.push(`header ${name} is missing, expected to match ${pattern.source}`)
    else if (!pattern.test(seen))
      problems.push(`header ${name} is ${quote(seen)}, expected to match ${pattern.source}`)
  }

  if (prepared.bodyContains !== undefined && !answer.body.includes(prepared.bodyContains)) {
    problems.push(`body does not contain ${quote(prepared.bodyContains)}`)
  }
  if (prepared.bodyMatches !== undefined && !prepared.bodyMatches.test(answer.body)) {
    problems.push(`body does not match ${prepared.bodyMatches.source}`)
  }

  if (prepared.json.length > 0) {
    const parsed = parseJson(answer.body)
    if (!parsed.ok) problems.push('body is not JSON')
    else {
      for (const { path, equals } of prepared.json) {
        const found = valueAt(parsed.value, path)
        if (!found.ok) problems.push(`json ${path} is missing, expected ${show(equals)}`)
        else if (!isDeepStrictEqual(found.value, equals)) {
          problems.push(`json ${path} is ${show(found.value)}, expected ${show(equals)}`)
        }
      }
    }
  }

  if (prepared.maxLatencyMs !== undefined && answer.latencyMs > prepared.maxLatencyMs) {
    problems.push(`took ${formatDuration(answer.latencyMs)}, limit ${formatDuration(prepared.maxLatencyMs)}`)
  }
  return problems
}

/** The start of a body, on one line, for failure messages. */
export function excerpt(body: string, length = 200): string {
  const line = body.replace(/\s+/g, ' ').trim()
  return line.length > length ? `${line.slice(0, length)}…` : line
}

function isPrepared(expect: Expect | PreparedExpect): expect is PreparedExpect {
  return Array.isArray((expect as PreparedExpect).headersMatch)
}

function parseJson(body: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body) as unknown }
  } catch {
    return { ok: false }
  }
}

/** `build.version`, `items.0.id` and `items[0].id` all work. */
function valueAt(root: unknown, path: string): { ok: true; value: unknown } | { ok: false } {
  let current = root
  for (const key of path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter(Boolean)) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return { ok: false }
    current = (current as Record<string, unknown>)[key]
  }
  return { ok: true, value: current }
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 80 ? `${text.slice(0, 80)}…` : text
}
