import { Args, Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { BluegreenError, ExitCode } from '../errors.js'

export default class Lint extends BluegreenCommand {
  static override description =
    'Check migrations for changes that break the running version or lock tables (exit 0 clean, 1 findings, 2 unparsable SQL)'
  static override examples = [
    'bluegreen lint migrations/expand',
    'bluegreen lint migrations/contract --phase contract',
    'bluegreen lint migrations/expand/003_orders.sql --json',
    'bluegreen lint --rules',
  ]
  static override strict = false
  static override args = {
    path: Args.string({ description: '.sql files or directories of them', required: false }),
  }
  static override flags = {
    phase: Flags.string({
      description:
        'expand: the old version still runs (compatibility and locking rules); contract: locking rules only',
      options: ['expand', 'contract'],
      default: 'expand',
      env: 'BLUEGREEN_PHASE',
    }),
    rules: Flags.boolean({ description: 'List the rules and exit', default: false }),
  }

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Lint)
    this.json = flags.json
    // The linter loads its SQL parser (WASM) only when it parses a file.
    const { formatFinding, lintPaths, lintRules } = await import('../db/lint/index.js')
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
        hint: 'e.g. bluegreen lint migrations/expand',
      })
    }
    const phase = flags.phase === 'contract' ? 'contract' : 'expand'
    // A directory is linted as the runner sees it: the same files, links followed.
    const { migrationPaths } = await import('../db/migration-files.js')
    const { findings, parseErrors, files } = await lintPaths(await migrationPaths(paths), phase)
    process.exitCode = parseErrors.length > 0 ? ExitCode.usage : findings.length > 0 ? 1 : ExitCode.ok

    if (this.json) {
      return this.outJson({
        type: 'result',
        ok: findings.length === 0 && parseErrors.length === 0,
        phase,
        files,
        findings,
        parseErrors,
      })
    }
    for (const error of parseErrors)
      this.out(`${error.file}:${error.line}:${error.column}: error ${error.message}`)
    for (const finding of findings) this.out(formatFinding(finding))
    const errors = findings.filter((f) => f.severity === 'error').length
    const summary =
      findings.length + parseErrors.length === 0
        ? `✓ ${files.length} file${files.length === 1 ? '' : 's'} safe for ${phase}`
        : `✗ ${errors} error${errors === 1 ? '' : 's'}, ${findings.length - errors} warning${findings.length - errors === 1 ? '' : 's'}${parseErrors.length ? `, ${parseErrors.length} file${parseErrors.length === 1 ? '' : 's'} not parsed` : ''} in ${files.length} file${files.length === 1 ? '' : 's'} (${phase})`
    this.err(summary)
  }
}
