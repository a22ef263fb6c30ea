import { BluegreenCommand } from '../../cli/base-command.js'
import { planArg, planFlag, versionFlag } from '../../cli/flags.js'
import { requirePlan } from '../../cli/invocation.js'

export default class PlanShow extends BluegreenCommand {
  static override description =
    'Show the release a plan describes, step by step: what each step touches and will do (no network, no database)'
  static override examples = ['bluegreen plan show plans/demo.yaml --version 1.4.2']
  static override args = {
    plan: planArg,
  }
  static override flags = { plan: planFlag, version: versionFlag }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(PlanShow)
    this.json = flags.json
    const [{ loadPlan }, { describeHeader, describePlan, formatSteps }] = await Promise.all([
      import('../../plan/load.js'),
      import('../../plan/describe.js'),
    ])
    const file = requirePlan(args.plan, flags.plan, 'plan show')
    const { plan } = await loadPlan(file, { version: flags.version })
    // The inactive pool is unknown until the load balancer is asked, so {{pool}} stays a name.
    const steps = describePlan(plan, { app: plan.app, version: plan.version }, { relativeTo: process.cwd() })

    if (this.json) {
      return this.outJson({
        type: 'result',
        ok: true,
        file,
        app: plan.app,
        version: plan.version ?? null,
        steps,
      })
    }
    for (const line of describeHeader(file, plan, steps, process.cwd())) this.out(line)
    this.out('')
    for (const line of formatSteps(steps)) this.out(line)
  }
}
