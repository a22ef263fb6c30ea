import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'

/** The example plans' variables, unset: the examples must validate on their defaults. */
const unset = {
  DATABASE_URL: undefined,
  BLUEGREEN_ALB_ENDPOINT: undefined,
  BLUEGREEN_DEMO_URL: undefined,
  AWS_REGION: undefined,
  SHOP_LISTENER_ARN: undefined,
  HAPROXY_RUNTIME_API: undefined,
  BLUEGREEN_STATE_FILE: undefined,
  BLUEGREEN_JSON: undefined,
}
const invalidDir = 'test/fixtures/plans/invalid'
const invalidPlans = readdirSync(invalidDir)
  .filter((name) => name.endsWith('.yaml'))
  .map((name) => `${invalidDir}/${name}`)

describe('bluegreen plan validate', () => {
  it('accepts every example plan and says what it found', async () => {
    const { code, stdout, stderr } = await runCli(
      ['plan', 'validate', 'plans/aws-alb.yaml', 'plans/demo.yaml', 'plans/haproxy.yaml', 'plans/nginx.yaml'],
      { env: unset },
    )
    expect(stderr).toBe('')
    expect(stdout.trim().split('\n')).toEqual([
      '✓ plans/aws-alb.yaml: valid (app shop, 9 phases)',
      '✓ plans/demo.yaml: valid (app shop, 8 phases)',
      '✓ plans/haproxy.yaml: valid (app shop, 8 phases)',
      '✓ plans/nginx.yaml: valid (app catalog, 6 phases)',
    ])
    expect(code).toBe(0)
  })

  it('exits 2 and prints each error with file:line:col, its path and a hint', async () => {
    const { code, stdout, stderr } = await runCli(['plan', 'validate', `${invalidDir}/unknown-key.yaml`])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr.trim().split('\n')).toEqual([
      `✗ ${invalidDir}/unknown-key.yaml: 1 error`,
      `  ${invalidDir}/unknown-key.yaml:5:3  loadBalancer.lisenerArn  unknown key "lisenerArn"`,
      '    hint: did you mean "listenerArn"?',
    ])
  })

  it('names the unset variable and where it is used', async () => {
    const { code, stderr } = await runCli(['plan', 'validate', `${invalidDir}/unset-variable.yaml`], {
      env: { BLUEGREEN_TEST_UNSET_HOST: undefined },
    })
    expect(code).toBe(2)
    expect(stderr).toContain(
      `${invalidDir}/unset-variable.yaml:3:23  database.url  environment variable BLUEGREEN_TEST_UNSET_HOST is not set`,
    )
  })

  it('reads ${VAR} from the environment', async () => {
    const { code, stdout } = await runCli(['plan', 'validate', `${invalidDir}/unset-variable.yaml`], {
      env: { BLUEGREEN_TEST_UNSET_HOST: 'db.internal' },
    })
    expect(stdout).toContain('valid (app shop, 1 phase)')
    expect(code).toBe(0)
  })

  it('never prints a stack trace for a bad plan, however broken', async () => {
    // Given every invalid fixture plus a file that does not exist, When validated in one run
    const { code, stdout, stderr } = await runCli(
      ['plan', 'validate', ...invalidPlans, 'no-such-plan.yaml'],
      {
        env: { BLUEGREEN_TEST_UNSET_HOST: undefined, BLUEGREEN_TEST_UNSET_DATABASE_URL: undefined },
      },
    )

    // Then each file is reported as invalid, with positions and hints, and nothing else
    expect(code).toBe(2)
    expect(stdout).toBe('')
    for (const file of invalidPlans) expect(stderr).toMatch(new RegExp(`^✗ ${file}: \\d+ errors?$`, 'm'))
    expect(stderr).toContain('✗ no-such-plan.yaml: 1 error')
    expect(stderr).not.toMatch(/^\s+at /m)
    expect(stderr).not.toMatch(/unexpected error|TypeError|RangeError/)
    const errorLines = stderr.split('\n').filter((line) => /^ {2}\S/.test(line))
    const hintLines = stderr.split('\n').filter((line) => line.startsWith('    hint: '))
    expect(hintLines.length).toBe(errorLines.length)
  })

  it('prints one JSON result with --json, and nothing else on stdout', async () => {
    const { code, stdout, stderr } = await runCli(
      ['plan', 'validate', 'plans/demo.yaml', `${invalidDir}/bad-duration.yaml`, '--json'],
      { env: unset },
    )
    expect(code).toBe(2)
    expect(stderr).toBe('')
    const result = JSON.parse(stdout) as unknown
    expect(result).toEqual({
      type: 'result',
      ok: false,
      files: [
        { file: 'plans/demo.yaml', ok: true, errors: [] },
        {
          file: `${invalidDir}/bad-duration.yaml`,
          ok: false,
          code: 'PLAN_INVALID',
          errors: [
            {
              file: `${invalidDir}/bad-duration.yaml`,
              line: 9,
              col: 16,
              path: 'phases[0].deploy.timeout',
              message: '"5 minutes" is not a duration',
              hint: 'did you mean "5m"? write 90s, 5m, 24h or 14d (a number and one of ms, s, m, h, d)',
            },
            expect.objectContaining({ line: 10, col: 21, path: 'phases[1].standby.for' }),
          ],
        },
      ],
    })
  })

  it('treats a missing argument as a usage error (exit 2)', async () => {
    const { code, stderr } = await runCli(['plan', 'validate'])
    expect(code).toBe(2)
    expect(stderr).toMatch(/Error \[USAGE\]/)
  })
})

describe('bluegreen plan validate --no-env', () => {
  const file = 'test/fixtures/plans/no-env/secrets.yaml'
  const secrets = {
    VERSION: undefined,
    DATABASE_URL: undefined,
    HAPROXY_RUNTIME_API: undefined,
    REGISTRY_TOKEN: undefined,
    DEPLOY_TIMEOUT: undefined,
    APP_HOST: undefined,
    PRODUCTION_URL: undefined,
  }

  it('checks a plan without its secrets: unset variables are placeholders, the rest is checked', async () => {
    // Given a plan whose every secret is unset, with one real mistake
    // When CI validates it with --no-env
    const { code, stderr } = await runCli(['plan', 'validate', '--no-env', file], { env: secrets })
    // Then only the mistake is reported, at its line: no error for any unset variable
    expect(code).toBe(2)
    expect(stderr).toContain(`${file}: 1 error`)
    expect(stderr).toContain(`${file}:11:43  phases[2].switch.interval  "1 minute" is not a duration`)
    // And without --no-env every unset variable is an error
    const strict = await runCli(['plan', 'validate', file], { env: secrets })
    expect(strict.code).toBe(2)
    for (const name of Object.keys(secrets)) expect(strict.stderr).toContain(`${name} is not set`)
  })
})

describe('--json errors stand on their own', () => {
  it('a plan error names code, message, the first problem and its fix, and every issue, without "above"', async () => {
    const file = 'test/fixtures/plans/no-env/secrets.yaml'
    const { code, stdout } = await runCli(['release', file, '--json'], {
      env: { APP_HOST: 'shop.example.com', VERSION: '1.0.0' },
    })
    expect(code).toBe(2)
    const lines = stdout.trim().split('\n')
    const result = JSON.parse(lines[lines.length - 1]) as {
      ok: boolean
      error: { code: string; message: string; hint: string; details: string[] }
    }
    expect(result.ok).toBe(false)
    expect(result.error.code).toBe('PLAN_INVALID')
    expect(result.error.message).toMatch(/secrets\.yaml: \d+ errors/)
    expect(result.error.hint).not.toMatch(/above/i)
    expect(result.error.hint).toContain('line 5 (database.url): set it (export DATABASE_URL=…)')
    expect(result.error.details.join('\n')).toContain(
      'phases[2].switch.interval  "1 minute" is not a duration',
    )
  })
})
