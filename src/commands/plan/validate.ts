import { Args, Flags } from '@oclif/core'
import { BluegreenCommand } from '../../cli/base-command.js'
import { planFlag } from '../../cli/flags.js'
import { requirePlan } from '../../cli/invocation.js'
import { ExitCode } from '../../errors.js'

export default class PlanValidate extends BluegreenCommand {
  static override description =
    'Check plan files: every error with file:line:col, its path in the plan and a hint'
  static override examples = [
    'bluegreen plan validate plans/*.yaml',
    'bluegreen plan validate plans/shop.yaml --json',
  ]
  static override strict = false
  static override flags = {
    plan: planFlag,
    env: Flags.boolean({
      description:
        'Read ${VAR} from the environment (default); --no-env: unset variables become placeholders, so CI can check a plan without its secrets',
      default: true,
      allowNo: true,
    }),
  }
  static override args = {
    plan: Args.string({ description: 'Plan files (YAML); default $BLUEGREEN_PLAN, then ./bluegreen.yaml' }),
  }

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(PlanValidate)
    this.json = flags.json
    const { validatePlanFiles } = await import('../../plan/validate.js')
    const { formatIssue } = await import('../../format/issues.js')
    const files = argv.length > 0 ? argv.map(String) : [requirePlan(undefined, flags.plan, 'plan validate')]
    const results = await validatePlanFiles(files, flags.env ? {} : { placeholders: true })
    const ok = results.every((result) => result.ok)
    if (!ok) process.exitCode = ExitCode.usage

    if (this.json) {
      const files = results.map((r) =>
        r.ok
          ? { file: r.file, ok: true, errors: [] }
          : { file: r.file, ok: false, code: r.code, errors: r.errors },
      )
      return this.outJson({ type: 'result', ok, files })
    }
    for (const result of results) {
      if (result.ok) {
        this.out(
          `✓ ${result.file}: valid (app ${result.app}, ${result.phases} phase${result.phases === 1 ? '' : 's'})`,
        )
        continue
      }
      const count = result.errors.length === 1 ? '1 error' : `${result.errors.length} errors`
      this.err(`✗ ${result.file}: ${count}`)
      for (const issue of result.errors) {
        this.err(`  ${formatIssue(issue)}`)
        if (issue.hint) this.err(`    hint: ${issue.hint}`)
      }
    }
  }
}
