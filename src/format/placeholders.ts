/**
 * `{{pool}}`, `{{version}}`, `{{app}}` and `{{host}}` in plan strings: checked when the plan is
 * loaded, filled at run time (the inactive pool is only known once the load balancer has been
 * asked). Only identifier-like names are placeholders, so Go-template text such as
 * `docker inspect -f '{{.State.Status}}'` passes through untouched.
 */
export const placeholderNames = ['pool', 'version', 'app', 'host'] as const
export type PlaceholderName = (typeof placeholderNames)[number]
export type PlaceholderVars = Partial<Record<PlaceholderName, string>>

const placeholderPattern = /\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g

export interface PlaceholderUse {
  name: string
  /** Offset of `{{` in the string. */
  index: number
  text: string
}

/** Every identifier-like `{{name}}` in `value`, known or not. */
export function findPlaceholders(value: string): PlaceholderUse[] {
  return [...value.matchAll(placeholderPattern)].map((m) => ({ name: m[1], index: m.index, text: m[0] }))
}

export function isPlaceholderName(name: string): name is PlaceholderName {
  return (placeholderNames as readonly string[]).includes(name)
}

/** Replaces the placeholders whose value is given; the others stay as written. */
export function fillPlaceholders(value: string, vars: PlaceholderVars): string {
  return value.replace(placeholderPattern, (text, name: string) => {
    const filled = isPlaceholderName(name) ? vars[name] : undefined
    return filled ?? text
  })
}

/** `fillPlaceholders` applied to every string inside a JSON-like value; returns a copy. */
export function fillPlaceholdersDeep<T>(value: T, vars: PlaceholderVars): T {
  return fillDeep(value, vars) as T
}

function fillDeep(value: unknown, vars: PlaceholderVars): unknown {
  if (typeof value === 'string') return fillPlaceholders(value, vars)
  if (Array.isArray(value)) return value.map((item) => fillDeep(item, vars))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fillDeep(item, vars)]))
  }
  return value
}
