import { BluegreenCommand } from '../../cli/base-command.js'

export default class PlanSchema extends BluegreenCommand {
  static override description =
    'Print the plan format as JSON Schema (for editors: # yaml-language-server: $schema=…)'
  static override examples = ['bluegreen plan schema > plans/plan.schema.json']

  async run(): Promise<void> {
    const { flags } = await this.parse(PlanSchema)
    this.json = flags.json
    const { planJsonSchema } = await import('../../plan/json-schema.js')
    if (this.json) return this.outJson({ type: 'result', ok: true, schema: planJsonSchema() })
    this.out(JSON.stringify(planJsonSchema(), null, 2))
  }
}
