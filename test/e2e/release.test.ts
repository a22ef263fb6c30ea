/**
 * Issue 6, end to end: real PostgreSQL, the ELBv2 emulator through the real AWS SDK, real app
 * servers on 127.0.0.1, and the CLI as a pipeline runs it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { forwardTargets } from '../../src/local/alb/state.js'
import { runKeepAliveLoad } from '../support/load.js'
import {
  bluegreen,
  dbPassword,
  e2ePlan,
  productionPool,
  sql,
  startE2eStack,
  type E2eStack,
} from '../support/e2e.js'

let stack: E2eStack | undefined
afterEach(async () => {
  await stack?.close()
  stack = undefined
})

describe('a release, end to end', () => {
  it('switches production to the new version and back with no failed request', async () => {
    // Given production on blue (1.0.0) and a client sending requests throughout
    stack = await startE2eStack()
    const env = stack.cliEnv
    expect(await productionPool(stack)).toBe('blue')
    let stopLoad!: () => void
    const load = runKeepAliveLoad(`${stack.productionUrl}/version`, {
      until: new Promise<void>((r) => (stopLoad = r)),
      concurrency: 4,
    })

    // When 2.0.0 is released
    const released = await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], env)
    expect(released.stderr).toBe('')
    expect(released.code).toBe(0)
    // Then production answers from green, on the expanded and backfilled schema
    expect(await productionPool(stack)).toBe('green')
    expect(stack.app.versionOf('green')).toBe('2.0.0')
    const [{ missing }] = await sql<{ missing: string }>(
      stack.databaseUrl,
      'SELECT count(*) AS missing FROM profiles WHERE first_name IS NULL',
    )
    expect(Number(missing)).toBe(0)

    // When it is rolled back
    const rolledBack = await bluegreen(['rollback', '--plan', e2ePlan, '--yes'], env)
    expect(rolledBack.code).toBe(0)
    // Then blue answers again: the old version on the expanded schema
    expect(await productionPool(stack)).toBe('blue')
    stopLoad()
    const report = await load
    expect(report.sent).toBeGreaterThan(50)
    expect(report.failed, report.errors.join(', ')).toBe(0)
    expect(report.byPool.green).toBeGreaterThan(0)

    // And the journal says so
    const history = await bluegreen(['history', e2ePlan, '--json'], env)
    const result = JSON.parse(history.stdout.trim().split('\n').at(-1)!) as {
      releases: { status: string }[]
      events: { action: string }[]
    }
    expect(result.releases[0].status).toBe('rolled_back')
    expect(result.events.map((e) => e.action)).toContain('rollback')
  })

  it('leaves production untouched when a smoke check fails (exit 1)', async () => {
    stack = await startE2eStack()
    const run = await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], {
      ...stack.cliEnv,
      E2E_SMOKE_PREFIX: 'not-',
    })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('SMOKE_FAILED')
    expect(run.stderr).toMatch(/127\.0\.0\.1:\d+/)
    expect(await productionPool(stack)).toBe('blue')
    // And the listener itself never moved: blue keeps every request's weight
    const weights = stack.emulator.state.listeners[0].defaultActions.flatMap(forwardTargets)
    const blueArn = stack.env.BLUEGREEN_BLUE_TG_ARN
    expect(weights.map((w) => [w.arn === blueArn ? 'blue' : 'green', w.weight]).sort()).toEqual([
      ['blue', 100],
      ['green', 0],
    ])
  })

  it('rolls back automatically when verify fails after the switch (exit 3)', async () => {
    stack = await startE2eStack()
    const run = await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], {
      ...stack.cliEnv,
      E2E_VERIFY_PREFIX: 'never-',
    })
    expect(run.code).toBe(3)
    expect(run.stderr).toContain('VERIFY_FAILED')
    expect(run.stdout).toContain('automatic rollback')
    expect(await productionPool(stack)).toBe('blue')
  })

  it('lets one of two simultaneous releases run; the other exits 4 at once', async () => {
    stack = await startE2eStack()
    const [a, b] = await Promise.all([
      bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], stack.cliEnv),
      bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], stack.cliEnv),
    ])
    const codes = [a.code, b.code].sort()
    expect(codes).toEqual([0, 4])
    const loser = a.code === 4 ? a : b
    expect(loser.stderr).toMatch(/holds the release lock of shop: .* since /)
  })

  it('contracts only once no pool can run the version that needs the old schema', async () => {
    stack = await startE2eStack()
    const env = stack.cliEnv
    const columns = async () =>
      (
        await sql<{ column_name: string }>(
          stack!.databaseUrl,
          `SELECT column_name FROM information_schema.columns WHERE table_name = 'profiles'`,
        )
      ).map((r) => r.column_name)
    expect((await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], env)).code).toBe(0)

    // While blue (1.0.0) is the standby pool, the contract waits
    const refused = await bluegreen(['contract', e2ePlan], env)
    expect(refused.code).toBe(0)
    expect(refused.stdout).toContain('standby pool blue')
    expect(await columns()).toContain('name')

    // After the next release's deploy replaced blue, 2.0.0's contract runs in that release
    expect((await bluegreen(['release', e2ePlan, '--version', '3.0.0', '--yes'], env)).code).toBe(0)
    expect(await columns()).not.toContain('name')
  })

  it('--dry-run lists the migration files each expand and contract would run, and the backfill’s rows', async () => {
    stack = await startE2eStack({ profiles: 300 })
    const dry = await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--dry-run'], stack.cliEnv)
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/expand.*would apply: 001_[a-z_]+\.sql/)
    expect(dry.stdout).toMatch(/contract.*would record as pending: 001_drop_name\.sql/)
    expect(dry.stdout).toMatch(/backfill.*about \d+ rows.* \(estimate\)/)
    // And after the release, the expand has nothing new
    expect((await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], stack.cliEnv)).code).toBe(0)
    const again = await bluegreen(['release', e2ePlan, '--version', '3.0.0', '--dry-run'], stack.cliEnv)
    expect(again.stdout).toMatch(/expand.*nothing new \(2 already applied\)/)
  })

  it('contracts after retire, and then refuses a rollback to the retired pool', async () => {
    stack = await startE2eStack()
    const env = stack.cliEnv
    expect((await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], env)).code).toBe(0)
    expect((await bluegreen(['retire', e2ePlan], env)).code).toBe(0)
    const contract = await bluegreen(['contract', e2ePlan], env)
    expect(contract.code).toBe(0)
    expect(contract.stdout).toMatch(/ran\s+2\.0\.0: 001_drop_name\.sql/)
    const rollback = await bluegreen(['rollback', '--plan', e2ePlan, '--yes'], env)
    expect(rollback.code).toBe(5)
    expect(rollback.stderr).toMatch(/retired|contract migrations/)
    expect(await productionPool(stack)).toBe('green')
    // And history has the release 0 record, the retirement and the contract run
    const history = await bluegreen(['history', e2ePlan], env)
    expect(history.stdout).toMatch(/release\.0 .*blue was live before bluegreen's first release/)
    expect(history.stdout).toMatch(/retire .*blue .*is no longer a rollback target/)
    expect(history.stdout).toMatch(/contract .*ran 2\.0\.0's contract: 001_drop_name\.sql/)
  })

  it('never prints the database password: plain, JSON and on a terminal', async () => {
    stack = await startE2eStack()
    const env = stack.cliEnv
    const plain = await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], env)
    const json = await bluegreen(['status', e2ePlan, '--json'], env)
    const failing = await bluegreen(['release', e2ePlan, '--version', '3.0.0', '--yes', '--json'], {
      ...env,
      DATABASE_URL: env.DATABASE_URL.replace(/:\d+\//, ':1/'),
    })
    // `script` gives the CLI a pseudo-terminal, so listr2 renders the task tree. Asynchronously:
    // the emulator and the app servers the CLI talks to live in this test's event loop.
    const { execFile } = await import('node:child_process')
    const { promisify } = await import('node:util')
    const { stdout: tty } = await promisify(execFile)(
      'script',
      ['-qec', `node bin/run.js release ${e2ePlan} --version 3.0.0 --yes`, '/dev/null'],
      {
        env: { ...process.env, ...env, CI: 'false', TERM: 'xterm' },
        encoding: 'utf8',
        timeout: 60_000,
      },
    )
    for (const output of [plain.stdout, plain.stderr, json.stdout, failing.stdout, failing.stderr, tty]) {
      expect(output).not.toContain(dbPassword)
    }
    expect(plain.code).toBe(0)
    expect(failing.stdout).toContain('postgres:***@')
    for (const line of json.stdout.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow()
    expect(tty).toContain('3.0.0 is live on blue')
    expect(tty).toContain('✔')
  })
})

describe('the first release and the version the live pool already runs', () => {
  it('records --live-version, so status shows it and a rollback confirms it by version', async () => {
    // Given a fresh journal, and blue serving 1.0.0 that bluegreen never released
    stack = await startE2eStack()
    const env = stack.cliEnv

    // When the first release says what blue runs
    const released = await bluegreen(
      ['release', e2ePlan, '--version', '2.0.0', '--live-version', '1.0.0', '--yes'],
      env,
    )
    expect(released.code).toBe(0)
    expect(released.stdout).not.toContain('does not know which version')

    // Then status knows both pools' versions
    const status = await bluegreen(['status', e2ePlan, '--json'], env)
    const report = JSON.parse(status.stdout.trim().split('\n').at(-1)!) as {
      pools: { pool: string; version?: string }[]
    }
    expect(Object.fromEntries(report.pools.map((p) => [p.pool, p.version]))).toEqual({
      blue: '1.0.0',
      green: '2.0.0',
    })

    // And a rollback names, and waits for, the version it went back to
    const rolledBack = await bluegreen(['rollback', '--plan', e2ePlan, '--yes', '--json'], env)
    expect(rolledBack.code).toBe(0)
    expect(JSON.parse(rolledBack.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      to: 'blue',
      version: '1.0.0',
    })

    // And a later --live-version that disagrees with what bluegreen released is refused, loudly
    const again = await bluegreen(
      ['release', e2ePlan, '--version', '3.0.0', '--live-version', '9.9.9', '--yes'],
      env,
    )
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('--live-version 9.9.9 ignored: the journal records blue running 1.0.0')
  })

  it('says on a first release without --live-version why a rollback cannot check the version', async () => {
    stack = await startE2eStack()
    const released = await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], stack.cliEnv)
    expect(released.code).toBe(0)
    expect(released.stdout).toContain('the journal does not know which version blue runs')
    expect(released.stdout).toContain('--live-version')
  })
})
