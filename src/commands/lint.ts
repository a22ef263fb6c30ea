import { Args, Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { runLint } from '../db/lint/run-lint.js'
import type { LintFormat } from '../db/lint/report.js'

export default class Lint extends BluegreenCommand {
  static override description =
    'Check migrations for changes that break the running version or lock tables (exit 0 clean, 1 findings, 2 unparsable SQL or usage)'
  static override examples = [
    'bluegreen lint migrations/expand',
    'bluegreen lint migrations/contract --phase contract',
    'bluegreen lint migrations/expand --format sarif > lint.sarif',
    'python manage.py sqlmigrate shop 0042 | bluegreen lint -',
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
      description:
        'no longer needed, kept for scripts that pass it: a BEGIN … COMMIT around a whole file (ORM output such as Django’s sqlmigrate) is always read as the file’s own transaction',
      default: false,
      env: 'BLUEGREEN_STRIP_TRANSACTION',
    }),
    rules: Flags.boolean({ description: 'List the rules and exit', default: false }),
  }

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Lint)
    this.json = flags.json
    await runLint(
      {
        paths: argv.map(String),
        phase: flags.phase === 'contract' ? 'contract' : 'expand',
        format: flags.format as LintFormat | undefined,
        json: flags.json,
        config: flags.config,
        maxWarnings: flags['max-warnings'],
        rules: flags.rules,
      },
      {
        out: (text) => this.out(text),
        err: (text) => this.err(text),
        outJson: (value) => this.outJson(value),
      },
    )
  }
}
