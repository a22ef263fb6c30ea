/**
 * `bluegreen init`: for each provider, a first plan that `plan validate` accepts and that
 * `release --dry-run` explains, with the variables the plan names set. On AWS, --listener-arn
 * fills the ARNs by describing the listener of the local ELBv2 emulator. On the built CLI.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startLocalStack, type LocalStack } from '../../src/local/stack.js'
import { runCli } from '../support/cli.js'
import { createTestDatabase } from '../support/postgres.js'

let dir: string | undefined
let stack: LocalStack | undefined
afterEach(async () => {
  await stack?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
  stack = undefined
  dir = undefined
})

const base = { BLUEGREEN_PLAN: undefined, CI: 'true' }

describe('bluegreen init', () => {
  for (const provider of ['haproxy', 'nginx', 'aws-elbv2'] as const) {
    it(`writes a ${provider} plan that validates and that --dry-run explains`, async () => {
      // Given an empty directory
      dir = mkdtempSync(join(tmpdir(), 'bluegreen-init-'))
      const env = {
        ...base,
        DATABASE_URL: await createTestDatabase('init'),
        BLUEGREEN_STATE_DIR: dir,
        AWS_REGION: 'us-east-1',
        BLUEGREEN_LISTENER_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/1/2',
        BLUEGREEN_BLUE_TG_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/1',
        BLUEGREEN_GREEN_TG_ARN:
          'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-green/2',
        HAPROXY_RUNTIME_API: join(dir, 'no-haproxy.sock'),
        NGINX_UPSTREAM_FILE: join(dir, 'upstream.conf'),
        // Nothing answers here: the dry run says it cannot read the load balancer, and goes on
        BLUEGREEN_ALB_ENDPOINT: 'http://127.0.0.1:1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_MAX_ATTEMPTS: '1',
      }

      // When init runs there
      const init = await runCli(['init', '--provider', provider, '--app', 'shop'], { cwd: dir, env: base })

      // Then it wrote the plan and both migration directories, and says what to run next
      expect(init.code, init.stderr).toBe(0)
      for (const file of ['bluegreen.yaml', 'migrations/expand/README.md', 'migrations/contract/README.md'])
        expect(existsSync(join(dir, file)), file).toBe(true)
      expect(init.stdout).toContain('bluegreen plan validate\n')
      expect(init.stdout).toContain('bluegreen release --dry-run --version 1.0.0\n')
      expect(readFileSync(join(dir, 'bluegreen.yaml'), 'utf8')).toContain(`provider: ${provider}`)

      // And the plan validates, and a dry run explains every phase
      const validate = await runCli(['plan', 'validate'], { cwd: dir, env })
      expect(validate.code, validate.stderr).toBe(0)
      expect(validate.stdout).toContain('✓ bluegreen.yaml: valid (app shop, 7 phases)')
      const dryRun = await runCli(['release', '--dry-run', '--version', '1.0.0'], { cwd: dir, env })
      expect(dryRun.code, dryRun.stdout + dryRun.stderr).toBe(0)
      for (const phase of ['expand', 'deploy', 'smoke', 'switch', 'verify', 'standby', 'contract'])
        expect(dryRun.stdout).toContain(phase)

      // And a second init refuses to overwrite, with exit 2 and a hint
      writeFileSync(join(dir, 'bluegreen.yaml'), '# mine\n')
      const again = await runCli(['init', '--provider', provider], { cwd: dir, env: base })
      expect(again.code).toBe(2)
      expect(again.stderr).toMatch(/^Error \[USAGE\]: bluegreen.yaml, .* already exist in /m)
      expect(again.stderr).toContain('Hint:')
      expect(readFileSync(join(dir, 'bluegreen.yaml'), 'utf8')).toBe('# mine\n')
    })
  }

  it('fills the region and both target groups from --listener-arn (the local ELBv2 emulator)', async () => {
    // Given a listener forwarding to shop-blue and shop-green
    const databaseUrl = await createTestDatabase('init')
    stack = await startLocalStack({ databaseUrl, healthInterval: '200ms', profiles: 10 })
    dir = mkdtempSync(join(tmpdir(), 'bluegreen-init-'))
    const listener = stack.env.BLUEGREEN_LISTENER_ARN
    const aws = {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: undefined,
      BLUEGREEN_LISTENER_ARN: undefined,
    }

    // When init describes it
    const init = await runCli(
      ['init', '--listener-arn', listener, '--endpoint', stack.env.BLUEGREEN_ALB_ENDPOINT, '--app', 'shop'],
      { cwd: dir, env: { ...base, ...aws } },
    )

    // Then the plan names the listener and the target groups, blue and green by their names
    expect(init.code, init.stderr).toBe(0)
    const plan = readFileSync(join(dir, 'bluegreen.yaml'), 'utf8')
    expect(plan).toContain(`listenerArn: '${listener}'`)
    expect(plan).toContain(`blue: { targetGroupArn: '${stack.env.BLUEGREEN_BLUE_TG_ARN}' }`)
    expect(plan).toContain(`green: { targetGroupArn: '${stack.env.BLUEGREEN_GREEN_TG_ARN}' }`)
    // And a dry run reads the live pool from that listener
    const dryRun = await runCli(['release', '--dry-run', '--version', '2.0.0'], {
      cwd: dir,
      env: { ...base, ...aws, DATABASE_URL: databaseUrl, BLUEGREEN_STATE_DIR: dir },
    })
    expect(dryRun.code, dryRun.stdout + dryRun.stderr).toBe(0)
    expect(dryRun.stdout).not.toContain('cannot read the load balancer')
    expect(dryRun.stdout).toMatch(/blue → green|from blue/)
  })
})
