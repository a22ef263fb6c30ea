import { relative } from 'node:path'
import { BluegreenCommand } from '../../cli/base-command.js'
import { planArg, planFlag, versionFlag } from '../../cli/flags.js'
import { requirePlan } from '../../cli/invocation.js'
import type { StepDescription } from '../../plan/describe.js'
import type { Plan } from '../../plan/schema.js'

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
    const [{ loadPlan }, { describePlan, formatSteps }] = await Promise.all([
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
    for (const line of header(file, plan, steps)) this.out(line)
    this.out('')
    for (const line of formatSteps(steps)) this.out(line)
  }
}

function header(file: string, plan: Plan, steps: StepDescription[]): string[] {
  const version = plan.version ?? '{{version}} (not set: pass --version)'
  const lb = plan.loadBalancer
  const where =
    lb.provider === 'aws-elbv2'
      ? `aws-elbv2 ${lb.ruleArn ? `rule ${lb.ruleArn}` : `listener ${lb.listenerArn ?? ''}`}`
      : lb.provider === 'haproxy'
        ? `haproxy backend ${lb.backend} (${lb.runtimeApi})`
        : `nginx upstream ${lb.upstream}`
  return [
    `${file}: app ${plan.app}, version ${version}, ${steps.length} step${steps.length === 1 ? '' : 's'}`,
    `load balancer: ${where}`,
    plan.database
      ? `database: ${plan.database.url}`
      : `journal: ${plan.state ? relative(process.cwd(), plan.state.file) : 'the default state file'}`,
    'pools: blue and green; which one is live is read from the load balancer at run time',
  ]
}
