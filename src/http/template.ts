/**
 * `{{version}}`, `{{pool}}` and friends inside checks: filled from the run's variables so that an
 * expectation can prove which version answered. A placeholder without a value is an error raised
 * before any request is sent, never a check that silently compares against the literal "{{app}}".
 */
import { BluegreenError } from '../errors.js'

// The same names as src/plan/placeholders.ts: identifier-like only, so Go-template text such as
// `{{.State.Status}}` in a body passes through untouched.
const placeholder = /\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g

export type Vars = Record<string, string>

/** Fills every `{{name}}` in `text`; `where` names the plan field for the error message. */
export function fill(text: string, vars: Vars, where: string): string {
  return text.replace(placeholder, (_match, name: string) => lookup(name, vars, where))
}

/**
 * Fills a regular expression: the values are escaped, so a version such as `1.2.3` matches
 * only itself and not `1x2y3`.
 */
export function fillPattern(pattern: string, vars: Vars, where: string): RegExp {
  const source = pattern.replace(placeholder, (_match, name: string) =>
    escapeRegExp(lookup(name, vars, where)),
  )
  try {
    return new RegExp(source)
  } catch (error) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `${where}: not a valid regular expression: ${pattern}`,
      hint: 'Fix the pattern (JavaScript RegExp syntax), or use bodyContains for plain text.',
      cause: error,
    })
  }
}

/** Fills every string inside a JSON-like value (for `json[].equals`). */
export function fillDeep(value: unknown, vars: Vars, where: string): unknown {
  if (typeof value === 'string') return fill(value, vars, where)
  if (Array.isArray(value)) return value.map((item) => fillDeep(item, vars, where))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fillDeep(item, vars, where)]))
  }
  return value
}

function lookup(name: string, vars: Vars, where: string): string {
  const value = vars[name]
  if (value !== undefined) return value
  const known = Object.keys(vars)
  throw new BluegreenError({
    code: 'PLAN_INVALID',
    message: `${where}: no value for {{${name}}}`,
    hint: known.length
      ? `Known variables: ${known.map((k) => `{{${k}}}`).join(', ')}.`
      : 'No variables are available here; write the value itself.',
  })
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
