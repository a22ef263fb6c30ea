import { describe, expect, it } from 'vitest'
import { packagesLoaded, runCli } from '../support/cli.js'

const unset = {
  DATABASE_URL: undefined,
  AWS_REGION: undefined,
  SHOP_LISTENER_ARN: undefined,
  BLUEGREEN_VERSION: undefined,
}

describe('bluegreen plan show', () => {
  it('prints every step of the AWS plan, what it touches and does, without the network', async () => {
    // When the AWS example is shown with a version (and no AWS credentials, no database)
    const { code, stdout, stderr, modules } = await runCli(
      ['plan', 'show', 'plans/aws-alb.yaml', '--version', '2.4.0'],
      {
        env: { ...unset, AWS_ACCESS_KEY_ID: undefined, AWS_PROFILE: undefined },
        traceModules: true,
      },
    )

    // Then it succeeds and lists the nine steps in order
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const lines = stdout.split('\n')
    expect(lines[0]).toBe('plans/aws-alb.yaml: app shop, version 2.4.0, 9 steps')
    const steps = lines.filter((line) => /^\d+\. /.test(line))
    expect(steps.map((line) => line.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      '1. expand',
      '2. backfill',
      '3. deploy',
      '4. smoke',
      '5. switch',
      '6. verify',
      '7. standby',
      '8. contract',
      '9. exec',
    ])
    expect(steps[2]).toMatch(
      /^3\. deploy\s+pool \{\{pool\}\} \(the inactive pool\)\s+run \.\/deploy\/aws-deploy\.sh \{\{pool\}\} 2\.4\.0 \(timeout 20m\)/,
    )
    expect(steps[3]).toMatch(
      /4\. smoke\s+pool \{\{pool\}\} \(the inactive pool\)\s+3 checks on every target, Host shop\.example\.com, retry up to 2m$/,
    )
    expect(steps[4]).toMatch(
      /5\. switch\s+load balancer\s+shift traffic to the inactive pool: 5% → 25% → 50% → 100%, 2m apart$/,
    )

    // And nothing that talks to AWS, PostgreSQL or HTTP was even loaded
    expect(modules.length).toBeGreaterThan(0)
    expect(packagesLoaded(modules, ['@aws-sdk', 'pg', 'undici', 'listr2', 'libpg-query'])).toEqual([])
  })

  it('shows {{version}} as unknown without --version, and reads BLUEGREEN_VERSION', async () => {
    const without = await runCli(['plan', 'show', 'plans/demo.yaml'], { env: unset })
    expect(without.stdout.split('\n')[0]).toBe(
      'plans/demo.yaml: app shop, version {{version}} (not set: pass --version), 8 steps',
    )

    const fromEnv = await runCli(['plan', 'show', 'plans/demo.yaml'], {
      env: { ...unset, BLUEGREEN_VERSION: '7.0.0' },
    })
    expect(fromEnv.stdout.split('\n')[0]).toBe('plans/demo.yaml: app shop, version 7.0.0, 8 steps')
    expect(fromEnv.stdout).toContain('GET /version → body contains "7.0.0"')
  })

  it('gives the steps as JSON with --json', async () => {
    const { code, stdout } = await runCli(
      ['plan', 'show', 'plans/haproxy.yaml', '--json', '--version', '3.2.0'],
      {
        env: { HAPROXY_RUNTIME_API: undefined, DATABASE_URL: undefined },
      },
    )
    expect(code).toBe(0)
    const result = JSON.parse(stdout) as {
      ok: boolean
      app: string
      version: string
      steps: { kind: string; touches: string }[]
    }
    expect(result).toMatchObject({
      type: 'result',
      ok: true,
      file: 'plans/haproxy.yaml',
      app: 'shop',
      version: '3.2.0',
    })
    expect(result.steps.map((s) => [s.kind, s.touches])).toEqual([
      ['expand', 'database'],
      ['backfill', 'database'],
      ['deploy', 'pool'],
      ['smoke', 'pool'],
      ['switch', 'load balancer'],
      ['verify', 'load balancer'],
      ['standby', 'journal'],
      ['contract', 'database'],
    ])
  })

  it('masks the database password', async () => {
    const { stdout } = await runCli(['plan', 'show', 'plans/demo.yaml'], {
      env: { DATABASE_URL: 'postgres://app:pa55-w0rd-x@127.0.0.1:5432/shop' },
    })
    expect(stdout).toContain('database: postgres://app:***@127.0.0.1:5432/shop')
    expect(stdout).not.toContain('pa55-w0rd-x')
  })

  it('exits 2 with the plan’s errors for an invalid plan', async () => {
    const { code, stderr } = await runCli(['plan', 'show', 'test/fixtures/plans/invalid/unknown-phase.yaml'])
    expect(code).toBe(2)
    expect(stderr).toContain(
      'test/fixtures/plans/invalid/unknown-phase.yaml:7:5  phases[0].swtich  unknown phase kind "swtich"',
    )
    expect(stderr).toContain('hint: did you mean "switch"?')
  })
})
