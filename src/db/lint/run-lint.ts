/**
 * The body of `bluegreen lint`, apart from oclif: the command (src/commands/lint.ts) parses the
 * flags and calls this, and so can a fast path that starts without oclif (as src/cli/fast-path.ts
 * does for rollback), since a linter in CI and in editors runs once per save or per push and
 * oclif's start-up is most of a small file's time. Output goes through the caller's `io`, so this
 * module stays below the CLI layer.
 */
import { BluegreenError, ExitCode } from '../../errors.js'
import type { LintFormat } from './report.js'

export interface LintInput {
  /** .sql files, directories of them, or `-` for standard input. */
  paths: string[]
  phase: 'expand' | 'contract'
  /** --format; the default is text (github under GITHUB_ACTIONS=true), json with --json. */
  format?: LintFormat
  json: boolean
  /** --config: a .bluegreen-lint.yaml or a plan with a lint: section. */
  config?: string
  maxWarnings?: number
  /** --rules: list the rules and exit. */
  rules: boolean
}

export interface LintIo {
  out(text: string): void
  err(text: string): void
  outJson(value: unknown): void
}

/** Lints, prints the report, and sets the exit code (0 clean, 1 findings, 2 unparsable or usage). */
export async function runLint(input: LintInput, io: LintIo): Promise<void> {
  // The linter loads its SQL parser (WASM) only when it parses a file, and then first: it
  // compiles on another core while the linter's own modules load and the files are listed.
  const parserStarted =
    !input.rules && input.paths.length > 0
      ? import('../sql-file.js').then(
          ({ loadSqlParser }) => void loadSqlParser({ onePass: true }).catch(() => undefined),
          () => undefined,
        )
      : undefined
  const { lintPaths, lintRules } = await import('./index.js')
  if (input.rules) {
    if (input.json) return io.outJson({ type: 'result', ok: true, rules: lintRules })
    for (const rule of lintRules)
      io.out(`${rule.id} (${rule.severity}, ${rule.phases.join('+')}): ${rule.summary}`)
    return
  }
  if (input.paths.length === 0) {
    throw new BluegreenError({
      code: 'USAGE',
      message: 'give at least one .sql file or directory',
      hint: 'e.g. bluegreen lint migrations/expand (or - to read standard input)',
    })
  }
  const [{ findLintConfig, loadLintConfig }, { renderLint }] = await Promise.all([
    import('./config.js'),
    import('./report.js'),
  ])
  const format = input.json
    ? 'json'
    : (input.format ?? (process.env.GITHUB_ACTIONS === 'true' ? 'github' : 'text'))
  const configFile = input.config ?? findLintConfig(process.cwd())
  const levelsFor = configFile ? await loadLintConfig(configFile) : undefined
  // Before anything else can load the parser with V8's default flags.
  await parserStarted
  // A directory is linted as the runner sees it: the same files, links followed (lintPaths).
  const result = await lintPaths(input.paths, input.phase, { levelsFor })
  const errors = result.findings.filter((f) => f.severity === 'error').length
  const warnings = result.findings.length - errors
  process.exitCode =
    result.parseErrors.length > 0
      ? ExitCode.usage
      : errors > 0 || warnings > (input.maxWarnings ?? 0)
        ? 1
        : ExitCode.ok
  const report = renderLint(result, input.phase, format)
  process.stdout.write(report.stdout)
  if (report.summary) io.err(report.summary)
}
