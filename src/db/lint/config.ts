/**
 * Rule levels from a config file: `.bluegreen-lint.yaml` (found in the working directory or
 * above it), or the `lint:` section of a plan, or a file given with `--config`:
 *
 *   rules:                    # for every file
 *     json-column: off
 *     create-or-replace: error
 *   directories:              # for the files below a directory (relative to the config file)
 *     migrations/legacy:
 *       drop-table: warning
 *
 * A level is `off`, `warning` or `error`; the deepest matching directory wins over `rules`.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { BluegreenError } from '../../errors.js'
import type { RuleLevels } from './index.js'
import { isRuleId } from './rules.js'

export const configFileName = '.bluegreen-lint.yaml'

export interface LintSettings {
  rules?: Record<string, string>
  directories?: Record<string, Record<string, string>>
}

/** The nearest `.bluegreen-lint.yaml` from `dir` up, if any. */
export function findLintConfig(dir: string): string | undefined {
  for (let at = resolve(dir); ; at = dirname(at)) {
    const candidate = join(at, configFileName)
    if (existsSync(candidate)) return candidate
    if (dirname(at) === at) return undefined
  }
}

/** Reads a config file (or a plan's `lint:` section) into a function from file to rule levels. */
export async function loadLintConfig(path: string): Promise<(file: string) => RuleLevels> {
  // Loaded only when there is a config file: most lint runs have none, and yaml is 12 ms of start-up.
  const { default: yaml } = await import('yaml')
  let document: unknown
  try {
    document = yaml.parse(await readFile(path, 'utf8'))
  } catch (error) {
    throw configError(path, (error as Error).message)
  }
  const isPlan = document !== null && typeof document === 'object' && 'phases' in document
  const settings = isPlan ? (document as { lint?: unknown }).lint : document
  return lintLevelsFor(settings ?? {}, dirname(path), path)
}

/** Rule levels by file, from settings whose directories are relative to `base`. */
export function lintLevelsFor(
  settings: unknown,
  base: string,
  source = 'lint settings',
): (file: string) => RuleLevels {
  const valid = validate(settings, source)
  const global = valid.rules ?? {}
  const directories = Object.entries(valid.directories ?? {})
    .map(([dir, rules]) => ({ dir: resolve(base, dir), rules }))
    .sort((a, b) => a.dir.length - b.dir.length)
  return (file) => {
    const path = resolve(file)
    let levels: RuleLevels = { ...global }
    for (const { dir, rules } of directories) {
      const inside = relative(dir, path)
      if (inside !== '' && !inside.startsWith('..') && !inside.startsWith(sep))
        levels = { ...levels, ...rules }
    }
    return levels
  }
}

function validate(
  settings: unknown,
  source: string,
): { rules?: RuleLevels; directories?: Record<string, RuleLevels> } {
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings))
    throw configError(source, 'expected a mapping with `rules` and/or `directories`')
  const { rules, directories, ...unknown } = settings as LintSettings
  const extra = Object.keys(unknown)
  if (extra.length > 0)
    throw configError(source, `unknown key ${extra.join(', ')} (known: rules, directories)`)
  const levels = (value: unknown, where: string): RuleLevels => {
    if (value === undefined) return {}
    if (value === null || typeof value !== 'object')
      throw configError(source, `${where}: expected a mapping of rule ids to levels`)
    const result: RuleLevels = {}
    for (const [rule, level] of Object.entries(value as Record<string, unknown>)) {
      if (!isRuleId(rule))
        throw configError(source, `${where}.${rule}: no such rule (see bluegreen lint --rules)`)
      if (level !== 'off' && level !== 'warning' && level !== 'error')
        throw configError(source, `${where}.${rule}: the level must be off, warning or error`)
      result[rule] = level
    }
    return result
  }
  const dirs: Record<string, RuleLevels> = {}
  if (directories !== undefined && (directories === null || typeof directories !== 'object'))
    throw configError(source, 'directories: expected a mapping of directories to rule levels')
  for (const [dir, value] of Object.entries(directories ?? {}))
    dirs[dir] = levels(value, `directories.${dir}`)
  return { rules: levels(rules, 'rules'), directories: dirs }
}

function configError(source: string, reason: string): BluegreenError {
  return new BluegreenError({
    code: 'USAGE',
    message: `${source}: ${reason}`,
    hint: 'rules: { RULE_ID: off | warning | error }, directories: { DIR: { RULE_ID: LEVEL } }',
  })
}
