/**
 * Issue 12, the ordinary sequences that once made production worse, each end to end on the
 * built CLI: real PostgreSQL, the ELBv2 emulator through the AWS SDK, the demo app's pools.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'
import { bluegreen, e2ePlan, productionPool, sql, startE2eStack, type E2eStack } from '../support/e2e.js'

let stack: E2eStack | undefined
afterEach(async () => {
  await stack?.close()
  stack = undefined
})

interface StatusJson {
  pools: { pool: string; standing?: string; version?: string; words: string; rollbackTarget: boolean }[]
}
async function standings(env: Record<string, string>): Promise<Record<string, string | undefined>> {
  const status = await bluegreen(['status', e2ePlan, '--json'], env)
  expect(status.code, status.stderr).toBe(0)
  const report = JSON.parse(status.stdout.trim().split('\n').at(-1)!) as StatusJson
  return Object.fromEntries(report.pools.map((p) => [p.pool, p.standing]))
}

const release = (version: string, env: Record<string, string>, extra: string[] = []) =>
  bluegreen(['release', e2ePlan, '--version', version, '--live-version', '1.0.0', '--yes', ...extra], env)
const rollback = (env: Record<string, string>, extra: string[] = []) =>
  bluegreen(['rollback', '--plan', e2ePlan, '--yes', ...extra], env)

describe('a rollback never makes production worse', () => {
  it('after a failed smoke test, refuses to switch to the failed build (exit 5) and says what each pool runs', async () => {
    // Given 2.0.0 live on green, blue the standby on 1.0.0
    stack = await startE2eStack({ profiles: 200 })
    const env = stack.cliEnv
    expect((await release('2.0.0', env)).code).toBe(0)
    // And 3.0.0, whose deploy replaced blue, failed its smoke test
    const failed = await release('3.0.0', { ...env, E2E_SMOKE_PREFIX: 'not-' })
    expect(failed.code).toBe(1)
    // When the on-call engineer rolls back
    const refused = await rollback(env)
    // Then nothing switches: green (2.0.0) is the last good release, blue holds the failed build
    expect(refused.code).toBe(5)
    expect(refused.stderr).toContain('NO_ROLLBACK_TARGET')
    expect(refused.stderr).toMatch(
      /blue runs 3\.0\.0, which failed smoke at .*green is live on 2\.0\.0, the last good release: nothing to roll back to/,
    )
    expect(await productionPool(stack)).toBe('green')
    // And --force still switches, naming what it runs
    const forced = await rollback(env, ['--force'])
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.stdout).toMatch(/--force: switching production to blue, which is not a known-good pool/)
    expect(await productionPool(stack)).toBe('blue')
  })

  it('does not toggle: a second rollback changes nothing (exit 0), and neither does one after an automatic rollback', async () => {
    stack = await startE2eStack({ profiles: 200 })
    const env = stack.cliEnv
    expect((await release('2.0.0', env)).code).toBe(0)
    expect((await rollback(env)).code).toBe(0)
    expect(await productionPool(stack)).toBe('blue')
    // When it is rolled back again
    const again = await rollback(env)
    // Then production stays on the known-good version, and says so
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('already runs the known-good version')
    expect(await productionPool(stack)).toBe('blue')
    expect(await standings(env)).toEqual({ blue: 'live', green: 'rolled_back' })
    // And putting 2.0.0 back is a release, with its checks
    expect((await release('2.0.0', env)).code).toBe(0)
    expect(await productionPool(stack)).toBe('green')
    expect(await standings(env)).toEqual({ blue: 'standby', green: 'live' })
  })

  it('releasing the version that is live changes nothing: no deploy over the standby, no contract', async () => {
    stack = await startE2eStack({ profiles: 200 })
    const env = stack.cliEnv
    expect((await release('2.0.0', env)).code).toBe(0)
    const [{ n: releasesBefore }] = await sql<{ n: string }>(
      stack.databaseUrl,
      'SELECT count(*) AS n FROM bluegreen.releases',
    )
    // When 2.0.0 is released again
    const again = await release('2.0.0', env)
    // Then nothing ran: blue still runs 1.0.0 and stays the rollback target
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('2.0.0 is already live on green; nothing to release')
    expect(stack.app.versionOf('blue')).toBe('1.0.0')
    expect(await standings(env)).toEqual({ blue: 'standby', green: 'live' })
    const [{ n: releasesAfter }] = await sql<{ n: string }>(
      stack.databaseUrl,
      'SELECT count(*) AS n FROM bluegreen.releases',
    )
    expect(releasesAfter).toBe(releasesBefore)
  })

  it('an interrupted release is closed by rollback without switching, as its hint says', async () => {
    stack = await startE2eStack({ profiles: 200 })
    const env = stack.cliEnv
    expect((await release('2.0.0', env)).code).toBe(0)
    // Given 3.0.0 killed at its smoke step (deployed to blue, traffic still on green)
    const killed = await release('3.0.0', { ...env, BLUEGREEN_FAILPOINT: 'step:3:started' })
    expect(killed.signal).toBe('SIGKILL')
    // When rolled back
    const closed = await rollback(env)
    // Then production stays on green (2.0.0), the release is closed, and blue is no target
    expect(closed.code, closed.stderr).toBe(0)
    expect(closed.stdout).toContain('never reached users')
    expect(await productionPool(stack)).toBe('green')
    expect(await standings(env)).toEqual({ blue: 'candidate', green: 'live' })
    const next = await release('4.0.0', env)
    expect(next.code, next.stderr).toBe(0)
  })

  it('a rollback killed right after its load-balancer write is completed by the next command', async () => {
    stack = await startE2eStack({ profiles: 200 })
    const env = stack.cliEnv
    expect((await release('2.0.0', env)).code).toBe(0)
    // When a rollback dies between the switch and its journal record
    const killed = await rollback({ ...env, BLUEGREEN_FAILPOINT: 'rollback:switched' })
    expect(killed.signal).toBe('SIGKILL')
    expect(await productionPool(stack)).toBe('blue')
    // Then the next command completes the record from the intent it left
    expect(await standings(env)).toEqual({ blue: 'live', green: 'rolled_back' })
    const rows = await sql<{ status: string; rollback: string }>(
      stack.databaseUrl,
      `SELECT status, rollback FROM bluegreen.releases ORDER BY seq DESC LIMIT 1`,
    )
    expect(rows[0]).toEqual({ status: 'rolled_back', rollback: 'manual' })
    const pending = await sql(
      stack.databaseUrl,
      `SELECT 1 FROM bluegreen.contracts WHERE applied_at IS NULL AND cancelled_at IS NULL`,
    )
    expect(pending).toHaveLength(0)
    // And a retried rollback does not switch back to 2.0.0
    const retried = await rollback(env)
    expect(retried.code).toBe(0)
    expect(await productionPool(stack)).toBe('blue')
  })

  it('on a terminal, asks with the switch named, and does nothing when told no', async () => {
    stack = await startE2eStack({ profiles: 200 })
    const env = stack.cliEnv
    expect((await release('2.0.0', env)).code).toBe(0)
    const asked = await runCli(['rollback', '--plan', e2ePlan], { env, tty: true, input: 'n\n' })
    expect(asked.stdout).toContain('Switch shop from green (2.0.0) to blue (1.0.0)? [y/N]')
    expect(asked.code).toBe(2)
    expect(await productionPool(stack)).toBe('green')
    expect(await standings(env)).toEqual({ blue: 'standby', green: 'live' })
  })

  it('status says each pool’s standing in words, and which one is the rollback target', async () => {
    stack = await startE2eStack({ profiles: 200 })
    const env = stack.cliEnv
    expect((await release('2.0.0', env)).code).toBe(0)
    expect((await release('3.0.0', { ...env, E2E_SMOKE_PREFIX: 'not-' })).code).toBe(1)
    const status = await bluegreen(['status', e2ePlan], env)
    expect(status.stdout).toMatch(/green: live: runs 2\.0\.0 \(live since .*\)/)
    expect(status.stdout).toMatch(
      /blue: candidate: runs 3\.0\.0, which failed smoke at \d{4}-\d\d-\d\d \d\d:\d\d UTC/,
    )
    expect(status.stdout).toContain('rollback target: none')
  })
})
