import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { describePlan, describeStep, formatSteps } from '../../src/plan/describe.js'
import { loadPlan } from '../../src/plan/load.js'
import { phases } from '../../src/phases/index.js'

const repo = resolve(import.meta.dirname, '../..')

describe('describeStep', () => {
  it('says what every step of the AWS example touches and does, with its durations', async () => {
    // Given the AWS example plan, with the inactive pool and version known (as at run time)
    const { plan } = await loadPlan(resolve(repo, 'plans/aws-alb.yaml'), { env: {} })

    // When every step is described
    const steps = describePlan(plan, { pool: 'green', version: '2.4.0', app: plan.app }, { relativeTo: repo })

    // Then each names what it touches and what it will do
    expect(steps.map((s) => [s.kind, s.touches, s.target])).toEqual([
      ['expand', 'database', 'database shop'],
      ['backfill', 'database', 'database shop'],
      ['deploy', 'pool', 'pool green'],
      ['smoke', 'pool', 'pool green'],
      ['switch', 'load balancer', 'load balancer'],
      ['verify', 'load balancer', 'load balancer'],
      ['standby', 'journal', 'journal'],
      ['contract', 'database', 'database shop'],
      ['exec', 'none', '—'],
    ])
    const summary = (kind: string) => steps.find((s) => s.kind === kind)!.summary
    expect(summary('expand')).toBe('lint, then apply the migrations in plans/migrations/shop/expand')
    expect(summary('deploy')).toBe(
      'run ./deploy/aws-deploy.sh green 2.4.0 (timeout 20m), then wait up to 10m for the pool to be healthy',
    )
    expect(summary('smoke')).toBe('3 checks on every target, Host shop.example.com, retry up to 2m')
    expect(steps.find((s) => s.kind === 'smoke')!.details).toContain(
      'version: GET /version → build.version = "2.4.0", within 500ms',
    )
    expect(summary('switch')).toBe('shift traffic to pool green: 5% → 25% → 50% → 100%, 2m apart')
    expect(summary('standby')).toBe('keep pool blue running as the rollback target for 24h')
    expect(summary('contract')).toMatch(
      /record plans\/migrations\/shop\/contract as pending, due 14d after this release$/,
    )

    // And durations are the time the plan gives each step
    expect(steps.map((s) => s.durationMs)).toEqual([
      undefined,
      undefined,
      30 * 60_000,
      2 * 60_000,
      3 * 2 * 60_000,
      10 * 60_000,
      24 * 3_600_000,
      undefined,
      30_000,
    ])
  })

  it('describes a single smoke check on one line, and an unknown inactive pool by name', async () => {
    const { plan } = await loadPlan(resolve(repo, 'plans/demo.yaml'), { env: {} })
    const smoke = phases.smoke.schema.parse({
      host: 'shop.example.com',
      checks: [{ path: '/healthz', expect: { status: 200 } }],
    })

    const step = describeStep({ smoke }, plan, {})

    expect(step.target).toBe('pool {{pool}} (the inactive pool)')
    expect(step.summary).toBe('GET /healthz → 200 on every target, Host shop.example.com, retry up to 60s')
    expect(step.durationMs).toBe(60_000)
  })

  it('never shows the values of a command’s environment, which may be secrets', async () => {
    const { plan } = await loadPlan(resolve(repo, 'plans/demo.yaml'), { env: {} })
    const exec = phases.exec.schema.parse({ run: ['./notify.sh'], env: { TOKEN: 'hunter2-token' } })

    const step = describeStep({ exec }, plan, {})

    expect(step.details).toEqual(['environment: TOKEN'])
    expect(JSON.stringify(step)).not.toContain('hunter2-token')
  })

  it('formats numbered steps with aligned columns and indented details', () => {
    const lines = formatSteps([
      {
        kind: 'smoke',
        touches: 'pool',
        target: 'pool green',
        summary: 'GET /healthz → 200',
        details: ['http'],
      },
      {
        kind: 'switch',
        touches: 'load balancer',
        target: 'load balancer',
        summary: 'all at once',
        details: [],
      },
    ])
    expect(lines).toEqual([
      '1. smoke   pool green     GET /healthz → 200',
      '                          http',
      '2. switch  load balancer  all at once',
    ])
  })
})

describe('describing a declared sync', () => {
  it('lists the trigger and backfill the expand creates, and the checks its contract makes', async () => {
    // Given the demo plan, which declares the name → first_name + last_name sync and a backfill
    const { plan } = await loadPlan(resolve(repo, 'plans/demo.yaml'), { env: {} })
    const steps = describePlan(plan, { pool: 'green', version: '2.0.0', app: plan.app }, { relativeTo: repo })
    const details = (kind: string) => steps.find((s) => s.kind === kind)!.details
    // Then the expand step names the trigger, its expressions and its backfill
    expect(details('expand')).toContain(
      "then install trigger bluegreen_sync_shop_profiles_<release seq> on profiles (BEFORE INSERT OR UPDATE): forward first_name = split_part(name, ' ', 1), last_name = nullif(split_part(name, ' ', 2), ''); backward name = concat_ws(' ', first_name, last_name)",
    )
    expect(details('expand')).toContain(
      'then backfill profiles through forward where the new columns differ, in batches of 1000 (resumable)',
    )
    // And the contract step the parity and backfill checks
    expect(details('contract')).toEqual([
      'a contract runs only once no pool can still run the release before it',
      'its contract first checks parity on profiles (first_name, last_name = forward(old) in every row), then drops the sync trigger before its SQL',
      'its contract first checks that no row of profiles still matches first_name IS NULL',
    ])
  })
})
