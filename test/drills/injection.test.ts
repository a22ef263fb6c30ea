/**
 * Drill (issue 15): hostile versions are refused before anything runs, and a `shell: true`
 * command gets its placeholders quoted. Git accepts tag names such as `$(id)`, so a tag-driven
 * pipeline passes them on: each is tried as --version, as BLUEGREEN_VERSION and as the plan's
 * `version: ${VERSION}`, against a plan whose commands would leave a mark if any ran.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { bluegreen, startE2eStack, type E2eStack } from '../support/e2e.js'

const work = mkdtempSync(join(tmpdir(), 'bluegreen-inject-'))
let stack: E2eStack | undefined
afterAll(async () => {
  await stack?.close()
  rmSync(work, { recursive: true, force: true })
})

const marks = join(work, 'marks')
const hostile = [
  `$(touch ${marks}-subst)`,
  `\`touch ${marks}-backtick\``,
  `1.0;touch ${marks}-semicolon`,
  `1.0 && touch ${marks}-and`,
  `1.0\n✓ shop 9.9.9 is live on green`,
  `1.0'`,
  `1.0"`,
  `1.0 --yes`,
  'x'.repeat(10 * 1024),
]

/** A plan on the local ELBv2 emulator whose exec runs a shell with every placeholder. */
function writePlan(version = ''): string {
  const file = join(work, `plan-${Math.random().toString(36).slice(2)}.yaml`)
  writeFileSync(
    file,
    `app: shop
${version}state: { file: ${join(work, 'shop.state.json')} }
loadBalancer:
  provider: aws-elbv2
  region: us-east-1
  endpoint: \${BLUEGREEN_ALB_ENDPOINT}
  listenerArn: \${BLUEGREEN_LISTENER_ARN}
pools:
  blue: { targetGroupArn: '\${BLUEGREEN_BLUE_TG_ARN}' }
  green: { targetGroupArn: '\${BLUEGREEN_GREEN_TG_ARN}' }
phases:
  - exec:
      shell: true
      run: printf '%s|%s|%s|%s\\n' {{version}} '{{version}}' "{{pool}}" "v=$(printf %s {{app}})" > ${join(work, 'out.txt')}
  - switch: { steps: [100] }
`,
  )
  return file
}

describe('drill: hostile versions and shell placeholders', () => {
  it('refuses every hostile version with exit 2, in every form, and runs nothing', async () => {
    stack = await startE2eStack({ profiles: 10 })
    const env = stack.cliEnv
    const plan = writePlan()
    const fromPlan = writePlan('version: ${VERSION}\n')
    for (const version of hostile) {
      const shown = JSON.stringify(version).slice(0, 40)
      const tries = [
        await runCli(['release', plan, '--version', version, '--yes'], { env }),
        await runCli(['release', plan, '--yes'], { env: { ...env, BLUEGREEN_VERSION: version } }),
        await runCli(['release', fromPlan, '--yes'], { env: { ...env, VERSION: version } }),
        await runCli(['release', plan, '--version', '1.0.0', '--live-version', version, '--yes'], { env }),
        await runCli(['plan', 'show', plan, '--version', version], { env }),
      ]
      for (const result of tries) {
        expect(result.code, `${shown}: ${result.stderr}`).toBe(2)
        expect(result.stderr, shown).toContain('letters, digits')
        // The refusal cannot forge a line: no output line starts with the forged text.
        expect(
          `${result.stdout}\n${result.stderr}`.split('\n').some((l) => l.startsWith('✓ shop 9.9.9')),
        ).toBe(false)
      }
    }
    // Nothing ran: no mark, no output file, no journal.
    expect(readdirSync(work).filter((f) => f.startsWith('marks') || f === 'out.txt')).toEqual([])
    expect(existsSync(join(work, 'shop.state.json'))).toBe(false)
  })

  it('runs a shell: true command with its placeholders quoted', async () => {
    const env = stack!.cliEnv
    const released = await bluegreen(['release', writePlan(), '--version', '2.0.0+build.7', '--yes'], env)
    expect(released.code, released.stdout + released.stderr).toBe(0)
    expect(readFileSync(join(work, 'out.txt'), 'utf8')).toBe('2.0.0+build.7|2.0.0+build.7|green|v=shop\n')
  })
})
