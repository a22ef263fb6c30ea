/**
 * Validates a plan value (already read from YAML and interpolated) against the zod schema and
 * turns every zod issue into a RawIssue a person can act on: "unknown key "lisenerArn"" with a
 * "did you mean", "missing required key", a duration hint. Phases are checked one entry at a
 * time against their kind's schema so their errors are precise instead of zod's union summary.
 * The cross-key rules come from the definitions: each provider's pool needs, each phase's own
 * checks and whether it needs a database.
 */
import * as z from 'zod'
import { didYouMean } from '../format/did-you-mean.js'
import { durationPattern, formatDuration, parseDuration } from '../format/duration.js'
import { formatPath, type PlanPath, type RawIssue } from '../format/issues.js'
import { findPlaceholders, isPlaceholderName, placeholderNames } from '../format/placeholders.js'
import { providerDefinition } from '../lb/index.js'
import { planSteps } from '../phases/index.js'
import { phaseKinds, phaseSchema, planSchema, topLevelSchema, type Plan } from './schema.js'

export interface ScalarSource {
  /** Whether the scalar was written without quotes. */
  plain: boolean
  /** The text as written in the file. */
  source: string
}

export interface CheckContext {
  /** The scalar at a path as written in the file, if there is one. */
  scalarAt(path: PlanPath): ScalarSource | undefined
  /** Offset in the file of a piece of text at a path (for issues inside a long string). */
  offsetOfText?: (path: PlanPath, text: string) => number
  /** The plan file's directory. */
  planDir?: string
}

export type CheckResult = { ok: true; plan: Plan } | { ok: false; issues: RawIssue[] }

type ZodIssue = z.core.$ZodIssue
type Schema = z.core.$ZodType
interface Located {
  issue: ZodIssue
  /** Path of the value the issue's own path is relative to. */
  base: PlanPath
}

const schemaHint = 'run `bluegreen plan schema` to see what each key accepts'

export function checkPlan(value: unknown, context: CheckContext): CheckResult {
  if (value === undefined || value === null) {
    return fail([
      {
        path: [],
        at: { offset: 0 },
        message: 'the plan is empty',
        hint: 'a plan needs app, loadBalancer, pools and phases; start from plans/demo.yaml',
      },
    ])
  }
  if (!isRecord(value)) {
    return fail([
      {
        path: [],
        at: 'value',
        message: `a plan is a map of keys (app, loadBalancer, pools, phases), not ${show(value)}`,
        hint: 'start from plans/demo.yaml: the top level has app:, loadBalancer:, pools: and phases:',
      },
    ])
  }

  // YAML reads `version: 1.10` as a number; where the schema wants text, the text as written is
  // meant. Likewise `port: ${PORT}` is text after interpolation but a number is meant.
  let input: unknown = withEmptyPhaseConfigs(value)
  let found = collect(input)
  for (let round = 0; round < 3 && found.zod.length > 0; round++) {
    const fixes = found.zod.flatMap(({ issue, base }) => fixesFor(issue, base, input, context))
    if (fixes.length === 0) break
    for (const fix of fixes) input = setAt(input, fix.path, fix.value)
    found = collect(input)
  }

  const issues = withoutEchoes([
    ...found.own,
    ...found.zod.flatMap(({ issue, base }) => explain(issue, base, input)),
    ...placeholderIssues(input),
  ])
  if (issues.length > 0) return fail(issues)

  const parsed = planSchema().safeParse(input, { reportInput: true })
  if (!parsed.success) return fail(parsed.error.issues.flatMap((issue) => explain(issue, [], input)))
  const semantic = semanticIssues(parsed.data, context)
  if (semantic.length > 0) return fail(semantic)
  return { ok: true, plan: parsed.data }
}

/** `- switch:` with nothing after it takes every default: read its config as `{}`. */
function withEmptyPhaseConfigs(value: Record<string, unknown>): Record<string, unknown> {
  const phases = value.phases
  if (!Array.isArray(phases)) return value
  return {
    ...value,
    phases: phases.map((entry: unknown) => {
      if (!isRecord(entry)) return entry
      const keys = Object.keys(entry)
      return keys.length === 1 && isPhaseKind(keys[0]) && entry[keys[0]] === null ? { [keys[0]]: {} } : entry
    }),
  }
}

/**
 * `lisenerArn` is reported as an unknown key with "did you mean listenerArn?"; the rule that
 * then misses listenerArn would only repeat it, so drop issues about a key some typo was meant as.
 */
function withoutEchoes(issues: RawIssue[]): RawIssue[] {
  const meant = new Set(
    issues.flatMap((issue) => {
      const guess = /^did you mean "([^"]+)"\?/.exec(issue.hint)?.[1]
      return guess && issue.message.startsWith('unknown key')
        ? [formatPath([...issue.path.slice(0, -1), guess])]
        : []
    }),
  )
  return issues.filter(
    (issue) => issue.message.startsWith('unknown key') || !meant.has(formatPath(issue.path)),
  )
}

function fail(issues: RawIssue[]): CheckResult {
  return { ok: false, issues }
}

/** Zod issues of the top level and of each phase entry, plus the structural phase problems. */
function collect(input: unknown): { zod: Located[]; own: RawIssue[] } {
  const zod: Located[] = []
  const own: RawIssue[] = []
  const record = isRecord(input) ? input : {}
  const { phases, ...rest } = record
  const top = topLevelSchema().safeParse(rest, { reportInput: true })
  if (!top.success) zod.push(...top.error.issues.map((issue) => ({ issue, base: [] })))

  if (!('phases' in record)) {
    own.push({
      path: ['phases'],
      at: 'key',
      message: 'missing required key "phases"',
      hint: 'add phases: a list such as "- deploy: { run: [./deploy.sh, "{{pool}}"] }"',
    })
    return { zod, own }
  }
  if (!Array.isArray(phases)) {
    own.push({
      path: ['phases'],
      at: 'value',
      message: `phases must be a list, not ${show(phases)}`,
      hint: 'write each phase as a list item: "- expand: { dir: migrations/expand }"',
    })
    return { zod, own }
  }
  if (phases.length === 0) {
    own.push({ path: ['phases'], at: 'value', message: 'phases is empty', hint: 'add at least one phase' })
  }
  phases.forEach((entry: unknown, index) => {
    const path = ['phases', index]
    const kinds = `phase kinds: ${phaseKinds().join(', ')}`
    if (!isRecord(entry)) {
      const named = typeof entry === 'string' && phaseKinds().includes(entry)
      own.push({
        path,
        at: 'value',
        message:
          entry === null || entry === undefined
            ? 'empty phase entry (a "-" with nothing after it)'
            : `a phase entry is a map with one key, the phase kind; got ${show(entry)}`,
        hint: named
          ? `write "- ${String(entry)}:" followed by its settings (indented), or "- ${String(entry)}: {}"`
          : typeof entry === 'string' && didYouMean(entry, phaseKinds())
            ? `did you mean "- ${didYouMean(entry, phaseKinds())}:"?`
            : `write e.g. "- deploy: { run: [./deploy.sh] }"; ${kinds}`,
      })
      return
    }
    const keys = Object.keys(entry)
    if (keys.length !== 1) {
      own.push(phaseKeyCountIssue(entry, keys, path))
      return
    }
    const kind = keys[0]
    if (!isPhaseKind(kind)) {
      const guess = didYouMean(kind, phaseKinds())
      own.push({
        path: [...path, kind],
        at: 'key',
        message: `unknown phase kind "${kind}"`,
        hint: guess ? `did you mean "${guess}"? (${kinds})` : kinds,
      })
      return
    }
    // `- switch:` with nothing after it takes every default.
    const config = entry[kind] ?? {}
    const result = phaseSchema(kind)!.safeParse(config, { reportInput: true })
    if (!result.success) zod.push(...result.error.issues.map((issue) => ({ issue, base: [...path, kind] })))
  })
  return { zod, own }
}

function phaseKeyCountIssue(entry: Record<string, unknown>, keys: string[], path: PlanPath): RawIssue {
  if (keys.length === 0) {
    return {
      path,
      at: 'value',
      message: 'empty phase entry',
      hint: `name the phase kind, e.g. "- standby: { for: 24h }"; phase kinds: ${phaseKinds().join(', ')}`,
    }
  }
  const kindsHere = keys.filter(isPhaseKind)
  const others = keys.filter((key) => !isPhaseKind(key))
  // The classic slip: settings at the level of the kind instead of indented under it.
  const slipped = kindsHere.length === 1 && entry[kindsHere[0]] === null && others.length > 0
  return {
    path: [...path, keys[1]],
    at: 'key',
    message: `a phase entry has exactly one key, the phase kind; this one has ${keys.length}: ${keys.join(', ')}`,
    hint: slipped
      ? `indent ${others.join(', ')} under "${kindsHere[0]}:" (two more spaces)`
      : 'start a new list item ("- ") for each phase',
  }
}

interface Fix {
  path: PlanPath
  value: unknown
}

function fixesFor(issue: ZodIssue, base: PlanPath, input: unknown, context: CheckContext): Fix[] {
  const path = [...base, ...issue.path.map(segment)]
  if (issue.code === 'invalid_union') {
    for (const branch of issue.errors) {
      const [only] = branch
      if (branch.length === 1 && only && only.path.length === 0) {
        const fixes = fixesFor(only, path, input, context)
        if (fixes.length > 0) return fixes
      }
    }
    return []
  }
  if (issue.code !== 'invalid_type') return []
  const current = getAt(input, path)
  const scalar = context.scalarAt(path)
  if (issue.expected === 'string' && (typeof current === 'number' || typeof current === 'boolean')) {
    return [{ path, value: scalar?.plain ? scalar.source : String(current) }]
  }
  const interpolated = scalar?.plain === true && scalar.source.includes('${')
  if (!interpolated || typeof current !== 'string') return []
  if ((issue.expected === 'number' || issue.expected === 'int') && /^-?\d+(\.\d+)?$/.test(current.trim())) {
    return [{ path, value: Number(current) }]
  }
  if (issue.expected === 'boolean' && /^(true|false)$/.test(current.trim())) {
    return [{ path, value: current.trim() === 'true' }]
  }
  return []
}

/** One zod issue, explained: a message in the plan's terms and a hint that says what to write. */
function explain(issue: ZodIssue, base: PlanPath, input: unknown): RawIssue[] {
  const path = [...base, ...issue.path.map(segment)]
  const value = getAt(input, path)
  const schema = schemaAt(path, input)
  const key = lastKey(path)
  const described = describeHint(path, input)

  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeys(path, input)
      return issue.keys.map((unknownKey) => {
        const guess = didYouMean(unknownKey, allowed)
        return {
          path: [...path, unknownKey],
          at: 'key',
          message: `unknown key "${unknownKey}"`,
          hint: guess
            ? `did you mean "${guess}"?`
            : allowed.length > 0
              ? `allowed here: ${allowed.join(', ')}`
              : 'remove it',
        }
      })
    }
    case 'invalid_type': {
      if (value === undefined) {
        const about = descriptionOf(schema)
        const hint = about ? `add ${key}: ${lowerFirst(about)}` : `add ${key}; ${schemaHint}`
        return [{ path, at: 'key', message: `missing required key "${key}"`, hint }]
      }
      const expected = expectedName(issue.expected)
      if (value === null) {
        const optional = schema !== undefined && isOptional(schema)
        return [
          {
            path,
            at: 'value',
            message: `"${key}" has no value (expected ${expected})`,
            hint: optional
              ? 'give it a value, or remove the line to use the default'
              : `give it a value; ${described}`,
          },
        ]
      }
      const braces = issue.expected === 'string' && isRecord(value)
      const quotedNumber =
        (issue.expected === 'number' || issue.expected === 'int') &&
        typeof value === 'string' &&
        /^-?\d+(\.\d+)?$/.test(value.trim())
      const hint = braces
        ? 'a value starting with { or [ is read as a YAML map or list: quote it, e.g. "{{version}}"'
        : quotedNumber
          ? `write the number without quotes: ${typeof path.at(-1) === 'number' ? '' : `${key}: `}${value.trim()}`
          : nearestDescription(path, input)
            ? described
            : `${key} takes ${expected}`
      return [{ path, at: 'value', message: `expected ${expected}, got ${show(value)}`, hint }]
    }
    case 'invalid_union': {
      if (issue.discriminator !== undefined) {
        const options = ('options' in issue ? (issue.options ?? []) : []).map(String)
        const atDiscriminator = path.at(-1) === issue.discriminator
        const owner = atDiscriminator ? getAt(input, path.slice(0, -1)) : value
        const given = isRecord(owner) ? owner[issue.discriminator] : undefined
        const discPath = atDiscriminator ? path : [...path, issue.discriminator]
        if (given === undefined) {
          return [
            {
              path: discPath,
              at: 'key',
              message: `missing required key "${issue.discriminator}"`,
              hint: `add ${issue.discriminator}: one of ${options.join(', ')}`,
            },
          ]
        }
        const guess = typeof given === 'string' ? didYouMean(given, options) : undefined
        return [
          {
            path: discPath,
            at: 'value',
            message: `unknown ${issue.discriminator} ${show(given)}`,
            hint: guess
              ? `did you mean "${guess}"? (one of ${options.join(', ')})`
              : `one of ${options.join(', ')}`,
          },
        ]
      }
      return explainUnion(issue.errors, path, value, input, described)
    }
    case 'invalid_format': {
      const text = typeof value === 'string' ? value : String(issue.input)
      if (issue.format === 'regex' && issue.pattern === String(durationPattern)) {
        const suggestion = suggestDuration(text)
        return [
          {
            path,
            at: 'value',
            message: `"${text}" is not a duration`,
            hint: `${suggestion ? `did you mean "${suggestion}"? ` : ''}write 90s, 5m, 24h or 14d (a number and one of ms, s, m, h, d)`,
          },
        ]
      }
      if (issue.format === 'url') {
        return [
          {
            path,
            at: 'value',
            message: `"${text}" is not a URL`,
            hint: 'write a full URL, e.g. https://shop.example.com/healthz',
          },
        ]
      }
      if (issue.format === 'starts_with' && 'prefix' in issue) {
        return [
          {
            path,
            at: 'value',
            message: `expected text starting with "${String(issue.prefix)}", got "${text}"`,
            hint: described,
          },
        ]
      }
      return [{ path, at: 'value', message: `"${text}": ${issue.message}`, hint: described }]
    }
    case 'invalid_value': {
      const options = issue.values.map(String)
      const guess = typeof value === 'string' ? didYouMean(value, options) : undefined
      return [
        {
          path,
          at: 'value',
          message: `${show(value)} is not one of: ${options.join(', ')}`,
          hint: guess ? `did you mean "${guess}"?` : described,
        },
      ]
    }
    case 'too_small': {
      const minimum = Number(issue.minimum)
      const message =
        issue.origin === 'array'
          ? `needs at least ${minimum} item${minimum === 1 ? '' : 's'}`
          : issue.origin === 'string'
            ? minimum === 1
              ? `"${key}" must not be empty`
              : `must be at least ${minimum} characters`
            : issue.inclusive === false
              ? `must be greater than ${minimum}, got ${show(value)}`
              : `must be at least ${minimum}, got ${show(value)}`
      return [{ path, at: 'value', message, hint: described }]
    }
    case 'too_big': {
      const maximum = Number(issue.maximum)
      const message =
        issue.origin === 'array'
          ? `has more than ${maximum} items`
          : issue.origin === 'string'
            ? `is longer than ${maximum} characters`
            : `must be at most ${maximum}, got ${show(value)}`
      return [{ path, at: 'value', message, hint: described }]
    }
    default:
      return [{ path, at: 'value', message: issue.message, hint: described }]
  }
}

/**
 * A value that matched no alternative. When every alternative failed on the type, say which
 * types are allowed; otherwise explain the alternative that got furthest (`status: [200, "x"]`).
 */
function explainUnion(
  branches: ZodIssue[][],
  path: PlanPath,
  value: unknown,
  input: unknown,
  described: string,
): RawIssue[] {
  if (value === undefined) {
    const key = lastKey(path)
    return [{ path, at: 'key', message: `missing required key "${key}"`, hint: `add ${key}; ${described}` }]
  }
  const typeOnly = branches.every(
    (b) => b.length === 1 && b[0].code === 'invalid_type' && b[0].path.length === 0,
  )
  if (typeOnly || branches.length === 0) {
    const expected = branches.map((b) =>
      b[0]?.code === 'invalid_type' ? expectedName(b[0].expected) : 'something else',
    )
    return [
      {
        path,
        at: 'value',
        message: `expected ${expected.join(' or ')}, got ${show(value)}`,
        hint: described,
      },
    ]
  }
  const depth = (b: ZodIssue[]) => Math.max(...b.map((i) => i.path.length))
  const furthest = branches.reduce((best, b) => (depth(b) > depth(best) ? b : best))
  return furthest.flatMap((inner) => explain(inner, path, input))
}

/** Rules that span keys: what the provider needs of the pools, what each phase checks. */
function semanticIssues(plan: Plan, context: CheckContext): RawIssue[] {
  const issues: RawIssue[] = []
  const provider = providerDefinition(plan.loadBalancer.provider)
  for (const pool of ['blue', 'green'] as const) {
    issues.push(...provider.poolIssues(pool, plan.pools[pool], plan.loadBalancer))
  }
  for (const { index, kind, config, definition } of planSteps(plan)) {
    const path = ['phases', index, kind]
    if (definition.needsDatabase && !plan.database) {
      issues.push({
        path,
        at: 'key',
        message: `the ${kind} phase needs a database, and the plan has none`,
        hint: 'add database: { url: "${DATABASE_URL}" } at the top level',
      })
    }
    issues.push(
      ...(definition.validate?.(config, {
        path,
        plan,
        planDir: context.planDir ?? '.',
        offsetOfText: context.offsetOfText ?? (() => 0),
      }) ?? []),
    )
  }
  return issues
}

/** `{{ver}}` is almost certainly a typo of `{{version}}`: report it before anything runs. */
function placeholderIssues(input: unknown): RawIssue[] {
  const issues: RawIssue[] = []
  forEachString(input, [], (text, path) => {
    for (const use of findPlaceholders(text)) {
      if (isPlaceholderName(use.name)) continue
      const guess = didYouMean(use.name, placeholderNames)
      issues.push({
        path,
        at: 'value',
        message: `unknown placeholder ${use.text}`,
        hint: guess
          ? `did you mean {{${guess}}}?`
          : `placeholders are ${placeholderNames.map((n) => `{{${n}}}`).join(', ')}`,
      })
    }
  })
  return issues
}

/** Calls `visit` for every string value (not keys) with its path; depth is bounded by the loader. */
export function forEachString(
  value: unknown,
  path: PlanPath,
  visit: (text: string, path: PlanPath) => void,
): void {
  if (typeof value === 'string') visit(value, path)
  else if (Array.isArray(value)) value.forEach((item, index) => forEachString(item, [...path, index], visit))
  else if (isRecord(value))
    for (const [key, item] of Object.entries(value)) forEachString(item, [...path, key], visit)
}

// --- the schema at a path, for allowed keys, descriptions and optionality ---------------------

function unwrap(schema: Schema): Schema {
  let current = schema
  for (let i = 0; i < 10; i++) {
    if (
      current instanceof z.ZodOptional ||
      current instanceof z.ZodDefault ||
      current instanceof z.ZodNullable ||
      current instanceof z.ZodPrefault ||
      current instanceof z.ZodReadonly
    ) {
      current = current.unwrap()
    } else return current
  }
  return current
}

function childSchema(schema: Schema, key: string | number, value: unknown): Schema | undefined {
  const inner = unwrap(schema)
  if (inner instanceof z.ZodObject) {
    return typeof key === 'string' && Object.hasOwn(inner.shape, key)
      ? (inner.shape[key] as Schema)
      : undefined
  }
  if (inner instanceof z.ZodArray) return typeof key === 'number' ? inner.element : undefined
  if (inner instanceof z.ZodRecord) return inner.valueType
  if (inner instanceof z.ZodDiscriminatedUnion) {
    const disc = inner.def.discriminator
    const given = isRecord(value) ? value[disc] : undefined
    const option = (inner.options as Schema[]).find((o) => {
      const field = childSchema(o, disc, undefined)
      return field instanceof z.ZodLiteral && field.values.has(given as z.core.util.Literal)
    })
    return option ? childSchema(option, key, value) : undefined
  }
  if (inner instanceof z.ZodUnion) {
    for (const option of inner.options as Schema[]) {
      const child = childSchema(option, key, value)
      if (child) return child
    }
  }
  return undefined
}

function schemaAt(path: PlanPath, input: unknown): Schema | undefined {
  let schema: Schema | undefined = planSchema()
  let value = input
  for (const key of path) {
    if (!schema) return undefined
    schema = childSchema(schema, key, value)
    value =
      isRecord(value) || Array.isArray(value) ? (value as Record<string | number, unknown>)[key] : undefined
  }
  return schema
}

/** The keys an object at `path` may have; for a union, those of the option the value picks. */
function allowedKeys(path: PlanPath, input: unknown): string[] {
  const schema = schemaAt(path, input)
  if (!schema) return []
  const inner = unwrap(schema)
  if (inner instanceof z.ZodObject) return Object.keys(inner.shape)
  if (inner instanceof z.ZodUnion) {
    const value = getAt(input, path)
    const keys = (inner.options as Schema[]).map((option) => {
      const object = unwrap(option)
      return object instanceof z.ZodObject ? Object.keys(object.shape) : []
    })
    if (inner instanceof z.ZodDiscriminatedUnion && isRecord(value)) {
      const disc = inner.def.discriminator
      const picked = (inner.options as Schema[]).findIndex((option) => {
        const field = childSchema(option, disc, undefined)
        return field instanceof z.ZodLiteral && field.values.has(value[disc] as z.core.util.Literal)
      })
      if (picked !== -1) return keys[picked]
    }
    return [...new Set(keys.flat())]
  }
  return []
}

function isOptional(schema: Schema): boolean {
  return schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault
}

function descriptionOf(schema: Schema | undefined): string | undefined {
  let current = schema
  for (let i = 0; current && i < 10; i++) {
    const description = z.globalRegistry.get(current)?.description
    if (description) return description
    const inner = unwrap(current)
    if (inner === current) return undefined
    current = inner
  }
  return undefined
}

/** The description at `path`, or for an item of a list (`status[1]`) the list's. */
function nearestDescription(path: PlanPath, input: unknown): { path: PlanPath; text: string } | undefined {
  let at = path
  for (;;) {
    const text = descriptionOf(schemaAt(at, input))
    if (text) return { path: at, text: lowerFirst(text) }
    if (typeof at.at(-1) !== 'number') return undefined
    at = at.slice(0, -1)
  }
}

function describeHint(path: PlanPath, input: unknown): string {
  const found = nearestDescription(path, input)
  return found ? `${formatPath(found.path) || 'the plan'}: ${found.text}` : schemaHint
}

// --- small helpers ---------------------------------------------------------------------------

function isPhaseKind(key: string): boolean {
  return phaseSchema(key) !== undefined
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function segment(key: PropertyKey): string | number {
  return typeof key === 'number' ? key : String(key)
}

function lastKey(path: PlanPath): string {
  const last = path.at(-1)
  return last === undefined ? 'the plan' : String(last)
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text
}

export function getAt(value: unknown, path: PlanPath): unknown {
  let current = value
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Record<string | number, unknown>)[key]
  }
  return current
}

/** A copy of `value` with `path` set; copies only along the path. */
function setAt(value: unknown, path: PlanPath, replacement: unknown): unknown {
  if (path.length === 0) return replacement
  const [head, ...rest] = path
  if (Array.isArray(value) && typeof head === 'number') {
    return value.map((item: unknown, index) => (index === head ? setAt(item, rest, replacement) : item))
  }
  if (isRecord(value) && typeof head === 'string') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, key === head ? setAt(item, rest, replacement) : item]),
    )
  }
  return value
}

/** A value as a person would describe it in an error message. */
export function show(value: unknown): string {
  if (value === null || value === undefined) return 'nothing'
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 57)}...` : value}"`
  if (typeof value === 'number') return `the number ${value}`
  if (typeof value === 'boolean') return `${value}`
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a map'
  return typeof value
}

function expectedName(expected: string): string {
  const names: Record<string, string> = {
    string: 'text',
    number: 'a number',
    int: 'a whole number',
    boolean: 'true or false',
    array: 'a list',
    object: 'a map',
    record: 'a map',
  }
  return names[expected] ?? expected
}

// prettier-ignore
const unitAliases: Record<string, string> = {
  ms: 'ms', msec: 'ms', msecs: 'ms', millis: 'ms', millisecond: 'ms', milliseconds: 'ms',
  s: 's', sec: 's', secs: 's', second: 's', seconds: 's',
  m: 'm', min: 'm', mins: 'm', minute: 'm', minutes: 'm',
  h: 'h', hr: 'h', hrs: 'h', hour: 'h', hours: 'h',
  d: 'd', day: 'd', days: 'd',
}

/** "5 min" → "5m", "90" → "90s", "1h30m" → "1.5h"; undefined when there is no good guess. */
export function suggestDuration(text: string): string | undefined {
  const trimmed = text.trim().toLowerCase()
  const simple = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(trimmed)
  if (simple) {
    const unit = simple[2] === '' ? 's' : unitAliases[simple[2]]
    return unit ? `${simple[1]}${unit}` : undefined
  }
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]+)/g)]
  if (
    parts.length > 1 &&
    parts
      .map((p) => p[0])
      .join('')
      .replace(/\s/g, '') === trimmed.replace(/\s/g, '')
  ) {
    let total = 0
    for (const part of parts) {
      const unit = unitAliases[part[2]]
      if (!unit) return undefined
      total += parseDuration(`${part[1]}${unit}`)
    }
    return formatDuration(total)
  }
  return undefined
}
