/**
 * The fast path. `bluegreen rollback` is what an on-call engineer runs while production is
 * broken, `bluegreen status` is what they run first, `bluegreen release` runs in every pipeline
 * and `bluegreen lint` on every save in an editor, so all four start without oclif: loading the
 * framework, its config and the command class costs more than Node's own start-up
 * (bench/RESULTS.md). This reads the command's flags from the oclif manifest that the build
 * writes (the command class stays their only definition), parses argv with node:util's
 * parseArgs, fills unset flags from their environment variables as oclif does, and runs the same
 * body as the oclif command (run-rollback.ts, run-release.ts, run-status.ts, run-lint.ts).
 *
 * Anything it does not recognise — `--help`, an unknown flag, a flag given twice, a flag that
 * depends on or excludes another (oclif checks the combination), a missing
 * manifest (a development checkout) — returns false, and bin/run.js hands argv to oclif, which
 * prints help or the usage error as for every other command. Every other command loads this
 * file first, so it imports nothing but Node's own modules until it knows it will run.
 */
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'

interface ManifestFlag {
  name: string
  type: 'boolean' | 'option'
  char?: string
  env?: string
  multiple?: boolean
  allowNo?: boolean
  default?: unknown
  options?: string[]
  /** oclif's relationships between flags: left to oclif, which reports them. */
  dependsOn?: string[]
  exclusive?: string[]
  exactlyOne?: string[]
  relationships?: unknown[]
}

interface ManifestCommand {
  id: string
  strict?: boolean
  args: Record<string, { name: string; required?: boolean }>
  flags: Record<string, ManifestFlag>
}

export interface Invocation {
  argv: string[]
  args: Record<string, string | undefined>
  /** Every positional, for a command that takes any number (`lint PATH...`). */
  positionals: string[]
  flags: Record<string, string | boolean | undefined>
}

export type Runner = (invocation: Invocation) => Promise<void>

// How each command that takes the fast path runs: one function each, so that the build can bundle
// one command's runner without the others (scripts/build.ts: dist/cli/fast-path-<command>.cjs).

export async function rollbackRunner({ argv, args, flags }: Invocation): Promise<void> {
  const [{ runRollback }, { commandLine, requirePlan }] = await Promise.all([
    import('./run-rollback.js'),
    import('./invocation.js'),
  ])
  await runRollback({
    planFile: requirePlan(args.plan, text(flags.plan), 'rollback'),
    yes: flags.yes === true,
    force: flags.force === true,
    json: flags.json === true,
    journalTimeout: text(flags['journal-timeout']),
    waitLock: text(flags['wait-lock']),
    command: commandLine('rollback', argv),
  })
}

/** `bluegreen release` runs in pipelines, many times a day: its own work should be all it costs. */
export async function releaseRunner({ argv, args, flags }: Invocation): Promise<void> {
  const [{ runRelease }, { commandLine, requirePlan }] = await Promise.all([
    import('./run-release.js'),
    import('./invocation.js'),
  ])
  await runRelease({
    planFile: requirePlan(args.plan, text(flags.plan), 'release'),
    version: text(flags.version),
    dryRun: flags['dry-run'] === true,
    resume: flags.resume === true,
    approve: flags.approve === true,
    force: flags.force === true,
    yes: flags.yes === true,
    json: flags.json === true,
    waitLock: text(flags['wait-lock']),
    liveVersion: text(flags['live-version']),
    command: commandLine('release', argv),
  })
}

/** `bluegreen status` is the first command on-call runs. */
export async function statusRunner({ argv, args, flags }: Invocation): Promise<void> {
  const [{ runStatus }, { commandLine, requirePlan }] = await Promise.all([
    import('./run-status.js'),
    import('./invocation.js'),
  ])
  await runStatus({
    planFile: requirePlan(args.plan, text(flags.plan), 'status'),
    json: flags.json === true,
    command: commandLine('status', argv),
  })
}

/** `bluegreen lint` runs in editors and pre-commit hooks on one file at a time: start-up is most of it. */
export async function lintRunner({ positionals, flags }: Invocation): Promise<void> {
  const [{ runLint }, { printError, printJson, printLine }] = await Promise.all([
    import('../db/lint/run-lint.js'),
    import('./output.js'),
  ])
  const maxWarnings = text(flags['max-warnings'])
  if (maxWarnings !== undefined && !/^\d+$/.test(maxWarnings)) {
    const { BluegreenError } = await import('../errors.js')
    throw new BluegreenError({
      code: 'USAGE',
      message: `--max-warnings ${maxWarnings} is not a whole number`,
      hint: 'give it like --max-warnings 0 (or set BLUEGREEN_MAX_WARNINGS)',
    })
  }
  await runLint(
    {
      paths: positionals,
      phase: flags.phase === 'contract' ? 'contract' : 'expand',
      format: text(flags.format) as Parameters<typeof runLint>[0]['format'],
      json: flags.json === true,
      config: text(flags.config),
      maxWarnings: maxWarnings === undefined ? undefined : Number(maxWarnings),
      rules: flags.rules === true,
    },
    { out: printLine, err: printError, outJson: printJson },
  )
}

/** The commands that take the fast path. */
export const fastRunners = {
  rollback: rollbackRunner,
  release: releaseRunner,
  status: statusRunner,
  lint: lintRunner,
}

type FastCommand = keyof typeof fastRunners

/** Whether `id` is a command the fast path may run. */
function isFastCommand(id: string | undefined): id is FastCommand {
  return id !== undefined && Object.hasOwn(fastRunners, id)
}

/**
 * Whether runFast would run `argv` rather than hand it to oclif (`--help`, an unknown flag):
 * bin/run.js loads the fast path's code cache only then.
 */
export function wouldRunFast(argv: string[], manifest: URL = manifestUrl): boolean {
  const [id, ...rest] = argv
  if (id === undefined || !isFastCommand(id)) return false
  const command = readCommand(manifest, id)
  return command !== undefined && parseInvocation(command, rest) !== undefined
}

const manifestUrl = new URL('../../oclif.manifest.json', import.meta.url)

/**
 * runFast for the given runners: a per-command bundle passes only its own, so that it holds
 * none of the others' code.
 */
export function runFastWith(
  runners: Partial<Record<string, Runner>>,
): (argv: string[], manifest?: URL) => Promise<boolean> {
  return async (argv, manifest = manifestUrl) => {
    const [id, ...rest] = argv
    const run = id === undefined || !Object.hasOwn(runners, id) ? undefined : runners[id]
    if (!run) return false
    const command = readCommand(manifest, id)
    const invocation = command && parseInvocation(command, rest)
    if (!invocation) return false
    try {
      await run(invocation)
    } catch (error) {
      const { reportFailure } = await import('./output.js')
      reportFailure(error, invocation.flags.json === true)
    }
    return true
  }
}

/** Runs `argv` (without node and the script) if it is a plain invocation of a fast command. */
export const runFast = /* @__PURE__ */ runFastWith(fastRunners)

function readCommand(manifest: URL, id: string): ManifestCommand | undefined {
  try {
    const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as {
      commands?: Record<string, ManifestCommand>
    }
    return parsed.commands?.[id]
  } catch {
    return undefined
  }
}

/**
 * argv parsed against the command's manifest entry, or undefined when oclif should see it:
 * whatever parseArgs rejects, and what oclif would treat differently (repeated flags,
 * `--no-` forms, a value outside a flag's options, more positionals than a strict command takes).
 */
export function parseInvocation(command: ManifestCommand, argv: string[]): Invocation | undefined {
  const flags = Object.values(command.flags)
  if (flags.some((f) => f.multiple || f.allowNo)) return undefined
  const options: NonNullable<ParseArgsConfig['options']> = {}
  for (const flag of flags) {
    options[flag.name] = {
      type: flag.type === 'boolean' ? 'boolean' : 'string',
      ...(flag.char ? { short: flag.char } : {}),
    }
  }
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true })
  } catch {
    return undefined
  }
  const seen = new Set<string>()
  for (const token of parsed.tokens) {
    if (token.kind !== 'option') continue
    if (seen.has(token.name)) return undefined
    seen.add(token.name)
    // A flag that depends on or excludes others: oclif checks the combination and says what is wrong.
    if (hasRelationships(command.flags[token.name])) return undefined
  }
  const argNames = Object.keys(command.args)
  if (command.strict !== false && parsed.positionals.length > argNames.length) return undefined
  const args = Object.fromEntries(argNames.map((name, i) => [name, parsed.positionals[i]]))
  if (Object.values(command.args).some((a) => a.required && args[a.name] === undefined)) return undefined
  const values: Invocation['flags'] = {}
  for (const flag of flags) {
    const given = parsed.values[flag.name]
    const value = Array.isArray(given) ? undefined : (given ?? fromEnvironment(flag))
    // A value outside the flag's list is oclif's to report, with the list.
    if (flag.options && typeof value === 'string' && !flag.options.includes(value)) return undefined
    values[flag.name] = value
  }
  return { argv, args, positionals: parsed.positionals, flags: values }
}

function hasRelationships(flag: ManifestFlag | undefined): boolean {
  return Boolean(
    flag?.dependsOn?.length ||
    flag?.exclusive?.length ||
    flag?.exactlyOne?.length ||
    flag?.relationships?.length,
  )
}

/** oclif's rule: a set, non-empty variable; for a boolean, 1/true/y/yes (any case) is true. */
function fromEnvironment(flag: ManifestFlag): string | boolean | undefined {
  const value = flag.env ? process.env[flag.env] : undefined
  if (!value) return flag.type === 'boolean' ? flag.default === true : text(flag.default)
  return flag.type === 'boolean' ? ['1', 'true', 'y', 'yes'].includes(value.toLowerCase()) : value
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}
