/**
 * Reads a plan file: YAML with positions → `${VAR}` interpolation → schema and placeholder
 * checks → relative paths resolved against the plan's directory. Every problem is collected and
 * thrown at once as a PlanError (code PLAN_INVALID) whose issues name `file:line:col`, the path
 * inside the plan and a hint. The YAML parser and zod are imported here, lazily, so that
 * `bluegreen --help` loads neither.
 */
import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { BluegreenError } from '../errors.js'
import { registerEnvSecrets, registerSecretsIn } from '../redact.js'
import { registerWebhookSecrets } from '../notify/webhook-url.js'
import { interpolate, type Env } from './interpolate.js'
import { formatPath, PlanError, type PlanIssue, type PlanPath, type RawIssue } from '../format/issues.js'
import type { CheckResult } from './check.js'
import { providerDefinition } from '../lb/index.js'
import { planSteps } from '../phases/index.js'
import type { PhaseEntry, Plan } from './schema.js'
import { checkVersionFlag, shownValue as shown, versionPattern, versionRule } from '../format/version.js'

export interface LoadPlanOptions {
  /** Where `${VAR}` values come from; default process.env. */
  env?: Env
  /** Overrides the plan's `version` (the --version flag). */
  version?: string
  /**
   * Paths whose unset `${VAR}` is no error (rollback: whatever it does not read). The section
   * holding such a variable is left out of the plan (`state`, one phase entry; `database` is
   * kept as its URL as written, unfilled) and named in `omitted`, so the command can go on
   * without it.
   */
  tolerateUnset?: (path: PlanPath) => boolean
  /** Whether the expand and contract directories must exist and hold .sql files (default true). */
  checkMigrationDirs?: boolean
  /**
   * `plan validate --no-env`: an unset variable is no error; its value becomes a placeholder
   * that suits where it is used (text, a URL, a duration, a number…), so the rest is still
   * checked. The plan is for validation only: it holds placeholders.
   */
  placeholders?: boolean
}

/** A plan section left out because a variable it uses is unset (see tolerateUnset). */
export interface OmittedSection {
  /** `database`, `state`, `version`, `phases[3]`… */
  section: string
  variables: string[]
}

export interface LoadedPlan {
  /** The validated plan, defaults applied, relative paths made absolute. */
  plan: Plan
  /** Absolute path of the plan file. */
  file: string
  /** Absolute directory of the plan file: relative paths in the plan are resolved against it. */
  dir: string
  /** The file's text as read (before interpolation). */
  source: string
  /**
   * sha256 of the interpolated, validated plan (paths as written, the version left out: a
   * release's version is not the plan's), to tell whether the plan changed since a release started.
   */
  hash: string
  /** Sections left out because of unset variables that tolerateUnset allowed; usually empty. */
  omitted: OmittedSection[]
}

/** Plans are a few kilobytes; a megabyte is a mistake (or an attack on the parser). */
const maxPlanBytes = 1024 * 1024

export async function loadPlan(file: string, options: LoadPlanOptions = {}): Promise<LoadedPlan> {
  checkVersionFlag(options.version, '--version')
  const absolute = resolve(file)
  const source = await readPlanSource(file, absolute)
  const [{ parseYaml }, { checkPlan }] = await Promise.all([import('./yaml-source.js'), import('./check.js')])
  const issues = (raw: RawIssue[], locate: (issue: RawIssue) => { line: number; col: number }) =>
    raw.map((issue): PlanIssue => ({
      file,
      ...locate(issue),
      path: formatPath(issue.path),
      message: issue.message,
      hint: issue.hint,
    }))

  const parsed = parseYaml(source)
  const { locator } = parsed
  const locate = (issue: RawIssue) =>
    locator.linePos(typeof issue.at === 'object' ? issue.at.offset : locator.offsetOf(issue.path, issue.at))
  if (parsed.issues.length > 0) throw planError(file, issues(parsed.issues, locate))

  const env = options.env ?? process.env
  // Before anything can be reported: an error message may quote an interpolated value.
  registerEnvSecrets(env)
  const value = withoutExtensionKeys(parsed.value)
  const interpolationIssues: RawIssue[] = []
  const tolerated: { path: PlanPath; variable: string }[] = []
  const placeholderPaths = new Map<string, PlanPath>()
  const interpolated = mapStrings(value, [], (text, path) => {
    const result = interpolate(text, env)
    for (const problem of result.problems) {
      if (problem.variable !== undefined && options.placeholders) {
        placeholderPaths.set(formatPath(path), path)
        continue
      }
      if (problem.variable !== undefined && options.tolerateUnset?.(path)) {
        tolerated.push({ path, variable: problem.variable })
        continue
      }
      const occurrence = text.slice(0, problem.index).split(problem.text).length - 1
      const offset = locator.offsetOfText(path, problem.text, occurrence)
      interpolationIssues.push({ path, at: { offset }, message: problem.message, hint: problem.hint })
    }
    return result.value
  })
  // --version replaces the plan's version, so `version: ${VERSION}` need not be set then.
  if (options.version) {
    const kept = interpolationIssues.filter((issue) => issue.path[0] !== 'version' || issue.path.length !== 1)
    interpolationIssues.splice(0, interpolationIssues.length, ...kept)
  }
  const pruned = omitSections(withPlaceholders(interpolated, placeholderPaths), tolerated)
  const withVersion =
    options.version && isRecord(pruned.value) ? { ...pruned.value, version: options.version } : pruned.value

  registerSecretsIn(withVersion)
  // A webhook URL is a credential with no secret-looking name: masked before anything is printed.
  registerWebhookSecrets(webhooksIn(withVersion))
  // Checked here rather than by the schema alone, so the message never quotes a hostile value raw.
  const reported = new Set(interpolationIssues.map((issue) => formatPath(issue.path)))
  const prunedIssues = (raw: RawIssue[]) =>
    raw.map((issue) => ({ ...issue, path: pruned.original(issue.path) }))
  interpolationIssues.push(
    ...prunedIssues(
      valueIssues(
        withVersion,
        pruned.omitted.some((o) => o.section === 'database'),
      ),
    ).filter((i) => !reported.has(formatPath(i.path)) && !placeholderPaths.has(formatPath(i.path))),
  )

  // (placeholders and tolerateUnset are not used together: placeholder paths need no mapping.)
  const checkedPruned = checkFitting(withVersion, placeholderPaths, (candidate) =>
    checkPlan(candidate, {
      scalarAt: (path) => locator.scalarAt(pruned.original(path)),
      offsetOfText: (path, text) => locator.offsetOfText(pruned.original(path), text),
      planDir: dirname(absolute),
    }),
  )
  const checked = checkedPruned.ok
    ? checkedPruned
    : { ok: false as const, issues: prunedIssues(checkedPruned.issues) }
  // A value whose variable is unset would also fail the schema; one error for it is enough.
  const unsetPaths = new Set(interpolationIssues.map((issue) => formatPath(issue.path)))
  const schemaIssues = checked.ok
    ? []
    : checked.issues.filter((issue) => !unsetPaths.has(formatPath(issue.path)))
  const all = [...interpolationIssues, ...schemaIssues]
  if (!checked.ok || all.length > 0) throw planError(file, issues(all, locate))

  const dir = dirname(absolute)
  const plan = resolvePaths(checked.plan, dir)
  if (options.checkMigrationDirs ?? true) {
    const badDirs = prunedIssues(await fileIssues(plan, dir))
    if (badDirs.length > 0) throw planError(file, issues(badDirs, locate))
  }
  return { plan, file: absolute, dir, source, hash: planHash(checked.plan), omitted: pruned.omitted }
}

/** What a placeholder may stand for when its text as written (`${VAR}`) does not fit, in order. */
const placeholderValues: readonly unknown[] = [
  'http://placeholder.invalid/',
  'arn:aws:elasticloadbalancing:us-east-1:000000000000:placeholder/placeholder',
  '1s',
  1,
  true,
]

/** The database URL is checked before the schema: its placeholder is a URL from the start. */
function withPlaceholders(value: unknown, paths: Map<string, PlanPath>): unknown {
  const url = paths.get('database.url')
  return url ? setAt(value, url, 'postgres://placeholder@placeholder.invalid/placeholder') : value
}

/**
 * checkPlan, where each placeholder that the schema refuses is given the next of
 * placeholderValues until it fits; what still does not fit is reported as the schema says.
 */
function checkFitting(
  value: unknown,
  paths: Map<string, PlanPath>,
  check: (value: unknown) => CheckResult,
): CheckResult {
  let current = value
  let checked = check(current)
  const tried = new Map<string, number>()
  for (let round = 0; round <= placeholderValues.length && !checked.ok; round++) {
    const refused = checked.issues.flatMap((issue) => {
      const path = paths.get(formatPath(issue.path))
      return path ? [path] : []
    })
    if (refused.length === 0) break
    for (const path of refused) {
      const next = (tried.get(formatPath(path)) ?? -1) + 1
      tried.set(formatPath(path), next)
      if (next < placeholderValues.length) current = setAt(current, path, placeholderValues[next])
    }
    checked = check(current)
  }
  if (checked.ok || tried.size === 0) return checked
  // Nothing fits there: report it against the value as written, not the last placeholder tried.
  for (const issue of checked.issues) {
    const path = paths.get(formatPath(issue.path))
    if (path) current = setAt(current, path, getAt(value, path))
  }
  return check(current)
}

function getAt(value: unknown, path: PlanPath): unknown {
  let at = value
  for (const key of path)
    at = isRecord(at) || Array.isArray(at) ? (at as Record<string, unknown>)[key] : undefined
  return at
}

/** A copy of `value` with `item` at `path` (which exists). */
function setAt(value: unknown, path: PlanPath, item: unknown): unknown {
  if (path.length === 0) return item
  const [head, ...rest] = path
  if (Array.isArray(value))
    return value.map((entry: unknown, i) => (i === head ? setAt(entry, rest, item) : entry))
  if (isRecord(value)) return { ...value, [head]: setAt(value[head], rest, item) }
  return value
}

/**
 * The plan without the sections that hold a tolerated unset variable: a top-level key, or one
 * entry of `phases`. `original` maps a path in the pruned value back to the file's (phase
 * indexes shift when an entry is left out), so issues still name the line as written.
 */
function omitSections(
  value: unknown,
  tolerated: { path: PlanPath; variable: string }[],
): { value: unknown; omitted: OmittedSection[]; original: (path: PlanPath) => PlanPath } {
  const identity = (path: PlanPath) => path
  if (tolerated.length === 0 || !isRecord(value)) return { value, omitted: [], original: identity }
  const bySection = new Map<string, { key: string; index?: number; variables: string[] }>()
  for (const { path, variable } of tolerated) {
    const key = String(path[0])
    const index = key === 'phases' && typeof path[1] === 'number' ? path[1] : undefined
    const section = index === undefined ? key : `phases[${index}]`
    const entry = bySection.get(section) ?? { key, index, variables: [] }
    if (!entry.variables.includes(variable)) entry.variables.push(variable)
    bySection.set(section, entry)
  }
  const droppedKeys = new Set([...bySection.values()].filter((e) => e.index === undefined).map((e) => e.key))
  const droppedPhases = new Set(
    [...bySection.values()].flatMap((e) => (e.index === undefined ? [] : [e.index])),
  )
  const phases = Array.isArray(value.phases) ? (value.phases as unknown[]) : undefined
  const kept = phases ? phases.map((_, i) => i).filter((i) => !droppedPhases.has(i)) : []
  const rest = Object.fromEntries(Object.entries(value).filter(([key]) => !droppedKeys.has(key)))
  // Phases that need a database would fail without one: the section stays, reduced to its URL
  // as written, and `omitted` tells the caller not to connect to it.
  if (droppedKeys.has('database') && isRecord(value.database)) {
    rest.database = { url: typeof value.database.url === 'string' ? value.database.url : '${unset}' }
  }
  const pruned = phases && droppedPhases.size > 0 ? { ...rest, phases: kept.map((i) => phases[i]) } : rest
  const original = (path: PlanPath): PlanPath =>
    path[0] === 'phases' && typeof path[1] === 'number' && droppedPhases.size > 0
      ? ['phases', kept[path[1]] ?? path[1], ...path.slice(2)]
      : path
  const omitted = [...bySection.entries()].map(([section, { variables }]) => ({ section, variables }))
  return { value: pruned, omitted, original }
}

async function readPlanSource(file: string, absolute: string): Promise<string> {
  let size: number
  try {
    const info = await stat(absolute)
    if (info.isDirectory()) {
      throw new BluegreenError({
        code: 'PLAN_NOT_FOUND',
        message: `${file} is a directory, not a plan file`,
        hint: 'give the path of a .yaml plan file, e.g. plans/demo.yaml',
      })
    }
    size = info.size
  } catch (error) {
    if (error instanceof BluegreenError) throw error
    throw new BluegreenError({
      code: 'PLAN_NOT_FOUND',
      message: `plan file not found: ${file}`,
      hint: `check the path (relative to ${process.cwd()}); example plans are in plans/, e.g. plans/demo.yaml`,
      cause: error,
    })
  }
  if (size > maxPlanBytes) {
    throw planError(file, [
      {
        file,
        line: 0,
        col: 0,
        path: '',
        message: `the file is ${size} bytes; a plan is a few kilobytes`,
        hint: 'check that this is the plan file you meant',
      },
    ])
  }
  let bytes: Buffer
  try {
    bytes = await readFile(absolute)
  } catch (error) {
    throw new BluegreenError({
      code: 'PLAN_NOT_FOUND',
      message: `cannot read plan file ${file}: ${error instanceof Error ? error.message : String(error)}`,
      hint: 'check the file’s permissions',
      cause: error,
    })
  }
  const source = bytes.toString('utf8')
  const invalid = firstInvalidUtf8(bytes, source)
  if (invalid !== undefined) {
    const before = bytes.subarray(0, invalid).toString('utf8')
    const line = before.split('\n').length
    throw planError(file, [
      {
        file,
        line,
        col: before.length - before.lastIndexOf('\n'),
        path: '',
        message: `not valid UTF-8: byte 0x${bytes[invalid].toString(16).padStart(2, '0')} at offset ${invalid}`,
        hint: 'save the plan as UTF-8 (e.g. iconv -f latin1 -t utf-8); bluegreen does not guess encodings',
      },
    ])
  }
  if (source.includes('\u0000')) {
    throw planError(file, [
      {
        file,
        line: 1,
        col: 1,
        path: '',
        message: 'not a text file',
        hint: 'a plan is a YAML text file, e.g. plans/demo.yaml',
      },
    ])
  }
  return source.startsWith('\uFEFF') ? source.slice(1) : source
}

/** The version and the database URL, which the schema alone would report with their raw text. */
function valueIssues(value: unknown, databaseOmitted: boolean): RawIssue[] {
  if (!isRecord(value)) return []
  const issues: RawIssue[] = []
  if (typeof value.version === 'string' && !versionPattern.test(value.version)) {
    issues.push({
      path: ['version'],
      at: 'value',
      message: `${shown(value.version)} is not a version name`,
      hint: versionRule,
    })
  }
  const url = isRecord(value.database) && !databaseOmitted ? value.database.url : undefined
  const problem = typeof url === 'string' && url !== '' ? databaseUrlProblem(url) : undefined
  if (problem) {
    issues.push({
      path: ['database', 'url'],
      at: 'value',
      message: `database.url is not a PostgreSQL URL: ${problem}`,
      hint: 'write postgres://USER:PASSWORD@HOST:5432/DATABASE (port 1–65535; percent-encode @, : and / in the password, e.g. @ as %40)',
    })
  }
  return issues
}

/** Why pg could not use `url` (it would throw a TypeError deep in the driver), or undefined. */
function databaseUrlProblem(url: string): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    const port = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*:(\d+)(?:[/?#]|$)/i.exec(url)?.[1]
    if (port && (Number(port) < 1 || Number(port) > 65535)) return `port ${port} is out of range`
    return 'it does not parse as a URL'
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    return `the scheme is ${parsed.protocol.replace(/:$/, '')}, not postgres`
  if (parsed.port === '0') return 'port 0 is out of range'
  return undefined
}

/**
 * The offset of the first byte that is not valid UTF-8, or undefined. Decoding replaces such
 * bytes with U+FFFD; encoding again differs from the input first where the input was invalid.
 */
function firstInvalidUtf8(bytes: Buffer, decoded: string): number | undefined {
  const again = Buffer.from(decoded, 'utf8')
  if (again.equals(bytes)) return undefined
  let i = 0
  while (i < bytes.length && i < again.length && bytes[i] === again[i]) i++
  return i
}

function planError(file: string, issues: PlanIssue[]): PlanError {
  const seen = new Set<string>()
  const unique = issues.filter((issue) => {
    const key = `${issue.line}:${issue.col}:${issue.path}:${issue.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  unique.sort((a, b) => a.line - b.line || a.col - b.col)
  return new PlanError(file, unique)
}

/**
 * Top-level keys starting with `x-` are ignored, as in Compose files: a place to define YAML
 * anchors (`x-check: &health {…}`) that phases then reuse with aliases.
 */
function withoutExtensionKeys(value: unknown): unknown {
  if (!isRecord(value)) return value
  return Object.fromEntries(Object.entries(value).filter(([key]) => !key.startsWith('x-')))
}

/** A copy of `value` with `fill` applied to every string value (keys stay as written). */
function mapStrings(value: unknown, path: PlanPath, fill: (text: string, path: PlanPath) => string): unknown {
  if (typeof value === 'string') return fill(value, path)
  if (Array.isArray(value))
    return value.map((item: unknown, index) => mapStrings(item, [...path, index], fill))
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, mapStrings(item, [...path, key], fill)]),
    )
  }
  return value
}

/**
 * Relative file and directory paths in a plan mean "next to the plan file", wherever it runs
 * from. Which keys are paths, each provider and phase definition says (`paths`).
 */
function resolvePaths(plan: Plan, dir: string): Plan {
  const resolved = <T extends object>(config: T, keys: readonly string[] = []): T => {
    const copy = { ...config } as Record<string, unknown>
    for (const key of keys) {
      const value = copy[key]
      if (typeof value === 'string') copy[key] = isAbsolute(value) ? value : resolve(dir, value)
    }
    return copy as T
  }
  return {
    ...plan,
    ...(plan.state ? { state: resolved(plan.state, ['file']) } : {}),
    loadBalancer: resolved(plan.loadBalancer, providerDefinition(plan.loadBalancer.provider).paths),
    phases: planSteps(plan).map(
      ({ kind, config, definition }) =>
        ({ [kind]: resolved(config as object, definition.paths) }) as PhaseEntry,
    ),
  }
}

/** The files a plan names (migration directories…) checked before anything runs: each definition's checkFiles. */
async function fileIssues(plan: Plan, dir: string): Promise<RawIssue[]> {
  const issues: RawIssue[] = []
  for (const { index, kind, config, definition } of planSteps(plan)) {
    if (!definition.checkFiles) continue
    issues.push(
      ...(await definition.checkFiles(config, {
        path: ['phases', index, kind],
        plan,
        planDir: dir,
        offsetOfText: () => 0,
      })),
    )
  }
  return issues
}

/** sha256 of the plan as canonical JSON (sorted keys), so key order and comments don't count. */
export function planHash(plan: Plan): string {
  // The version is the release's, not the plan's: `release --resume` without --version is the same plan.
  const { version: _version, ...rest } = plan
  return createHash('sha256').update(canonicalJson(rest)).digest('hex')
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (isRecord(value)) {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** The plan's `notify:` webhooks as written, before the schema checked them. */
function webhooksIn(value: unknown): { url: string; headers?: Record<string, string> }[] {
  if (!isRecord(value) || !Array.isArray(value.notify)) return []
  return value.notify.flatMap((webhook: unknown) =>
    isRecord(webhook) && typeof webhook.url === 'string'
      ? [
          {
            url: webhook.url,
            headers: isRecord(webhook.headers) ? (webhook.headers as Record<string, string>) : undefined,
          },
        ]
      : [],
  )
}
