import { Args, Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { BluegreenError, ExitCode } from '../errors.js'

export default class Lint extends BluegreenCommand {
  static override description =
    'Check migrations for changes that break the running version or lock tables (exit 0 clean, 1 findings, 2 unparsable SQL or usage)'
  static override examples = [
    'bluegreen lint migrations/expand',
    'bluegreen lint migrations/contract --phase contract',
    'bluegreen lint migrations/expand --format sarif > lint.sarif',
    'python manage.py sqlmigrate shop 0042 | bluegreen lint - --strip-transaction',
    'bluegreen lint --rules',
  ]
  static override strict = false
  static override args = {
    path: Args.string({
      description: '.sql files or directories of them; - reads standard input',
      required: false,
    }),
  }
  static override flags = {
    phase: Flags.string({
      description:
        'expand: the old version still runs (compatibility and locking rules); contract: locking rules only',
      options: ['expand', 'contract'],
      default: 'expand',
      env: 'BLUEGREEN_PHASE',
    }),
    format: Flags.string({
      description:
        'text (with hints), gcc (file:line:col: error: message [rule]), json, github (annotations; the default when GITHUB_ACTIONS=true), sarif, gitlab (Code Quality)',
      options: ['text', 'gcc', 'json', 'github', 'sarif', 'gitlab'],
      env: 'BLUEGREEN_LINT_FORMAT',
    }),
    config: Flags.string({
      description: `rule levels: a .bluegreen-lint.yaml or a plan with a lint: section (default: the nearest .bluegreen-lint.yaml)`,
      env: 'BLUEGREEN_LINT_CONFIG',
    }),
    'max-warnings': Flags.integer({
      description: 'exit 0 with up to this many warnings (errors always fail); without it, any finding fails',
      min: 0,
      env: 'BLUEGREEN_MAX_WARNINGS',
    }),
    'strip-transaction': Flags.boolean({
      description: 'ignore a BEGIN … COMMIT around a whole file (ORM output such as Django’s sqlmigrate)',
      default: false,
      env: 'BLUEGREEN_STRIP_TRANSACTION',
    }),
    rules: Flags.boolean({ description: 'List the rules and exit', default: false }),
  }

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Lint)
    this.json = flags.json
    // The linter loads its SQL parser (WASM) only when it parses a file.
    const { lintPaths, lintRules, loadParser } = await import('../db/lint/index.js')
    if (flags.rules) {
      if (this.json) return this.outJson({ type: 'result', ok: true, rules: lintRules })
      for (const rule of lintRules)
        this.out(`${rule.id} (${rule.severity}, ${rule.phases.join('+')}): ${rule.summary}`)
      return
    }
    const paths = argv.map(String)
    if (paths.length === 0) {
      throw new BluegreenError({
        code: 'USAGE',
        message: 'give at least one .sql file or directory',
        hint: 'e.g. bluegreen lint migrations/expand (or - to read standard input)',
      })
    }
    // This process only lints: the parser compiles for one pass (loadParser), from now on.
    loadParser({ baselineOnly: true }).catch(() => undefined)
    const { findLintConfig, loadLintConfig } = await import('../db/lint/config.js')
    const { renderLint } = await import('../db/lint/report.js')
    const phase = flags.phase === 'contract' ? 'contract' : 'expand'
    const format = (
      flags.json ? 'json' : (flags.format ?? (process.env.GITHUB_ACTIONS === 'true' ? 'github' : 'text'))
    ) as 'text' | 'gcc' | 'json' | 'github' | 'sarif' | 'gitlab'
    const configFile = flags.config ?? findLintConfig(process.cwd())
    const levelsFor = configFile ? await loadLintConfig(configFile) : undefined
    // A directory is linted as the runner sees it: the same files, links followed (lintPaths).
    const result = await lintPaths(paths, phase, {
      stripTransaction: flags['strip-transaction'],
      levelsFor,
    })
    const errors = result.findings.filter((f) => f.severity === 'error').length
    const warnings = result.findings.length - errors
    process.exitCode =
      result.parseErrors.length > 0
        ? ExitCode.usage
        : errors > 0 || warnings > (flags['max-warnings'] ?? 0)
          ? 1
          : ExitCode.ok
    const report = renderLint(result, phase, format)
    process.stdout.write(report.stdout)
    if (report.summary) this.err(report.summary)
  }
}
