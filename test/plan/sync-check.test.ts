import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PlanError } from '../../src/format/issues.js'
import { loadPlan } from '../../src/plan/load.js'

const fixtures = resolve(import.meta.dirname, '../fixtures/sync')
const env = {
  DATABASE_URL: 'postgres://localhost/x',
  BLUEGREEN_ALB_ENDPOINT: 'http://127.0.0.1:1',
  BLUEGREEN_LISTENER_ARN: 'arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/shop/1/2',
  BLUEGREEN_BLUE_TG_ARN: 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/blue/1',
  BLUEGREEN_GREEN_TG_ARN: 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/green/2',
  BLUEGREEN_DEMO_URL: 'http://127.0.0.1:2',
}

describe('declared sync in the plan', () => {
  it('loads the issue’s form', async () => {
    const { plan } = await loadPlan(resolve(fixtures, 'plan.yaml'), { env })
    expect(plan.phases[0]).toMatchObject({
      expand: {
        sync: [
          {
            table: 'profiles',
            forward: { first_name: "split_part(name, ' ', 1)" },
            backward: { name: "concat_ws(' ', first_name, last_name)" },
          },
        ],
      },
    })
  })

  it('refuses an expression that does not parse, at file:line:col', async () => {
    // Given a forward expression missing its closing parenthesis
    const error = await loadPlan(resolve(fixtures, 'bad-expression.yaml'), { env }).catch((e: unknown) => e)
    // Then the plan is refused where the expression ends, with its path
    expect(error).toBeInstanceOf(PlanError)
    const issues = (error as PlanError).issues
    expect(issues).toHaveLength(1)
    const line = 21
    const col = `            first_name: "split_part(name, ' ', 1`.length + 1
    expect(issues[0]).toMatchObject({
      line,
      col,
      path: 'phases[0].expand.sync[0].forward.first_name',
      message: expect.stringContaining(
        'forward first_name: does not parse: syntax error at end of input',
      ) as unknown,
    })
  })

  it('refuses more than one expression, or a statement smuggled in', async () => {
    const { syncIssues, expressionProblem } = await import('../../src/db/sync-check.js')
    const { plan } = await loadPlan(resolve(fixtures, 'plan.yaml'), { env })
    const expand = (plan.phases[0] as { expand: { sync: { forward: Record<string, string> }[] } }).expand
    expand.sync[0].forward.first_name = 'lower(name), upper(name)'
    expand.sync[0].forward.last_name = 'name); DROP TABLE profiles; SELECT (1'
    // At load, by a lexical scan (every command loads the plan, and must not load the SQL parser)
    expect(syncIssues(expand.sync as never, ['phases', 0, 'expand'], () => 0).map((i) => i.message)).toEqual([
      'forward first_name: is not one SQL expression',
      'forward last_name: is not one SQL expression (unbalanced parenthesis)',
    ])
    // And by PostgreSQL's parser in the expand phase, which also catches what a scan cannot
    expect(await expressionProblem('name), (name')).toMatchObject({ message: 'is not one SQL expression' })
    expect(await expressionProblem('name + * 1')).toMatchObject({
      message: expect.stringContaining('does not parse: syntax error') as unknown,
    })
    expect(await expressionProblem("split_part(name, ' ', 1)")).toBeUndefined()
    expect(syncIssues([], ['phases', 0, 'expand'], () => 0)).toEqual([])
  })
})
