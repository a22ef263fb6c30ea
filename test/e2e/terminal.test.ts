/**
 * On a terminal, bluegreen draws listr2's task tree; the automatic rollback must work there
 * exactly as in plain and --json output (it once crashed on a TTY and left production on the
 * failed build). Driven through a real pseudo-terminal.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { e2ePlan, productionPool, startE2eStack, type E2eStack } from '../support/e2e.js'

let stack: E2eStack | undefined
afterEach(async () => {
  await stack?.close()
  stack = undefined
})

describe('on a terminal', () => {
  it('a verify failure rolls back automatically and exits 3, as in CI', async () => {
    // Given production on blue and a release whose verify will fail
    stack = await startE2eStack({ profiles: 200 })
    // When it is released on a real pseudo-terminal
    const run = await runCli(['release', e2ePlan, '--version', '2.0.0', '--yes'], {
      env: { ...stack.cliEnv, E2E_VERIFY_PREFIX: 'never-' },
      tty: true,
      timeoutMs: 90_000,
    })
    // Then listr2 drew the tree, the rollback ran, and production is back on blue
    expect(run.stdout).not.toMatch(/TypeError|Cannot read properties/)
    expect(run.stdout).toContain('VERIFY_FAILED')
    expect(run.code, run.stdout).toBe(3)
    expect(await productionPool(stack)).toBe('blue')
    // And a rollback afterwards changes nothing: production is already on the known-good version
    const again = await runCli(['rollback', '--plan', e2ePlan, '--yes'], { env: stack.cliEnv })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('already runs the known-good version')
    expect(await productionPool(stack)).toBe('blue')
  })
})
