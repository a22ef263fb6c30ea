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
import { registerUrlSecrets } from '../redact.js'
import { interpolate, type Env } from './interpolate.js'
import { formatPath, PlanError, type PlanIssue, type PlanPath, type RawIssue } from './issues.js'
import type { Plan } from './schema.js'

export interface LoadPlanOptions {
  /** Where `${VAR}` values come from; default process.env. */
  env?: Env
  /** Overrides the plan's `version` (the --version flag). */
  version?: string
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
   * sha256 of the interpolated, validated plan (paths as written, version included), to tell
   * whether the plan changed since a release started.
   */
  hash: string
}

/** Plans are a few kilobytes; a megabyte is a mistake (or an attack on the parser). */
const maxPlanBytes = 1024 * 1024

export async function loadPlan(file: string, options: LoadPlanOptions = {}): Promise<LoadedPlan> {
  const absolute = resolve(file)
  const source = await readPlanSource(file, absolute)
  const [{ parseYaml }, { checkPlan, forEachString }] = await Promise.all([
    import('./yaml-source.js'),
    import('./check.js'),
  ])
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
  const value = withoutExtensionKeys(parsed.value)
  const interpolationIssues: RawIssue[] = []
  const interpolated = mapStrings(value, [], (text, path) => {
    const result = interpolate(text, env)
    for (const problem of result.problems) {
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
  const withVersion =
    options.version && isRecord(interpolated) ? { ...interpolated, version: options.version } : interpolated

  const checked = checkPlan(withVersion, { scalarAt: (path) => locator.scalarAt(path) })
  // A value whose variable is unset would also fail the schema; one error for it is enough.
  const unsetPaths = new Set(interpolationIssues.map((issue) => formatPath(issue.path)))
  const schemaIssues = checked.ok
    ? []
    : checked.issues.filter((issue) => !unsetPaths.has(formatPath(issue.path)))
  const all = [...interpolationIssues, ...schemaIssues]
  if (!checked.ok || all.length > 0) throw planError(file, issues(all, locate))

  const dir = dirname(absolute)
  const plan = resolvePaths(checked.plan, dir)
  const missing = await missingDirs(plan, dir)
  if (missing.length > 0) throw planError(file, issues(missing, locate))

  registerUrlSecrets(plan.database?.url)
  forEachString(checked.plan, [], (text, path) => {
    // A URL anywhere in the plan (a verify URL with basic auth) keeps its password out of output.
    if (text.includes('://') && path.length > 0) registerUrlSecrets(text)
  })
  return { plan, file: absolute, dir, source, hash: planHash(checked.plan) }
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
  let source: string
  try {
    source = await readFile(absolute, 'utf8')
  } catch (error) {
    throw new BluegreenError({
      code: 'PLAN_NOT_FOUND',
      message: `cannot read plan file ${file}: ${error instanceof Error ? error.message : String(error)}`,
      hint: 'check the file’s permissions',
      cause: error,
    })
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

/** Relative file and directory paths in a plan mean "next to the plan file", wherever it runs from. */
function resolvePaths(plan: Plan, dir: string): Plan {
  const at = (path: string): string => (isAbsolute(path) ? path : resolve(dir, path))
  const atOptional = (path: string | undefined): string | undefined =>
    path === undefined ? undefined : at(path)
  const lb = plan.loadBalancer
  return {
    ...plan,
    ...(plan.state ? { state: { ...plan.state, file: at(plan.state.file) } } : {}),
    loadBalancer:
      lb.provider === 'haproxy'
        ? { ...lb, ...(lb.stateFile !== undefined ? { stateFile: at(lb.stateFile) } : {}) }
        : lb.provider === 'nginx'
          ? { ...lb, upstreamFile: at(lb.upstreamFile) }
          : lb,
    phases: plan.phases.map((entry) => {
      if ('expand' in entry) return { expand: { ...entry.expand, dir: at(entry.expand.dir) } }
      if ('contract' in entry) return { contract: { ...entry.contract, dir: at(entry.contract.dir) } }
      if ('smoke' in entry && entry.smoke.caFile !== undefined) {
        return { smoke: { ...entry.smoke, caFile: atOptional(entry.smoke.caFile) } }
      }
      if ('verify' in entry && entry.verify.caFile !== undefined) {
        return { verify: { ...entry.verify, caFile: atOptional(entry.verify.caFile) } }
      }
      return entry
    }),
  }
}

/** Migration directories are read during the release; a missing one is a plan error now. */
async function missingDirs(plan: Plan, dir: string): Promise<RawIssue[]> {
  const issues: RawIssue[] = []
  for (const [index, entry] of plan.phases.entries()) {
    const phase =
      'expand' in entry
        ? { kind: 'expand', dir: entry.expand.dir }
        : 'contract' in entry
          ? { kind: 'contract', dir: entry.contract.dir }
          : undefined
    if (!phase) continue
    const isDir = await stat(phase.dir).then(
      (info) => info.isDirectory(),
      () => false,
    )
    if (!isDir) {
      issues.push({
        path: ['phases', index, phase.kind, 'dir'],
        at: 'value',
        message: `directory not found: ${phase.dir}`,
        hint: `relative dirs are resolved against the plan file’s directory (${dir}); create it or fix the path`,
      })
    }
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
