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

describe('confirmations on a terminal', () => {
  it('retire and contract say what they will do and ask; n changes nothing, y goes on; without a TTY they never ask', async () => {
    // Given 2.0.0 live on green, 1.0.0 the standby on blue, 2.0.0's contract pending
    stack = await startE2eStack({ profiles: 50 })
    const env = stack.cliEnv
    expect(
      (
        await runCli(['release', e2ePlan, '--version', '2.0.0', '--live-version', '1.0.0', '--yes'], {
          env,
          timeoutMs: 90_000,
        })
      ).code,
    ).toBe(0)

    // When retire runs on a terminal and the answer is n
    const refused = await runCli(['retire', e2ePlan], { env, tty: true, input: 'n\n' })
    // Then it named the pool and what follows, asked, and changed nothing (exit 2)
    expect(refused.stdout).toContain(
      'blue (1.0.0) will no longer be a rollback target; contracts that need it may then run. Retire blue? [y/N]',
    )
    expect(refused.code, refused.stdout).toBe(2)
    expect(refused.stdout).toContain('not confirmed; nothing was done')

    // When the answer is y (blue was still the standby: the refusal changed nothing)
    const retired = await runCli(['retire', e2ePlan], { env, tty: true, input: 'y\n' })
    expect(retired.code, retired.stdout).toBe(0)
    expect(retired.stdout).toContain('blue (1.0.0) is no longer a rollback target')

    // When contract runs on a terminal: it lists the file and the statement that drops, and asks
    const contractRefused = await runCli(['contract', e2ePlan], { env, tty: true, input: 'n\n' })
    expect(contractRefused.stdout).toContain("2.0.0's contract migrations will run; they cannot be undone:")
    expect(contractRefused.stdout).toContain('001_drop_name.sql')
    expect(contractRefused.stdout).toContain('ALTER TABLE profiles DROP COLUMN name')
    expect(contractRefused.code, contractRefused.stdout).toBe(2)
    const still = await runCli(['contract', e2ePlan, '--dry-run'], { env })
    expect(still.stdout).toContain('would run 2.0.0: 001_drop_name.sql')

    // And without a terminal it never asks: a pipeline runs it (no stdin answer needed)
    const piped = await runCli(['contract', e2ePlan], { env })
    expect(piped.code, piped.stderr).toBe(0)
    expect(piped.stdout).not.toContain('[y/N]')
    expect(piped.stdout).toContain('ran       2.0.0: 001_drop_name.sql')
  })
})
