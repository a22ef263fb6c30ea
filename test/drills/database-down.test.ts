/**
 * Drill 3 (issue 8): PostgreSQL goes away in the middle of a release. A dedicated server (not the
 * shared one of the test run) is stopped with `pg_ctl stop -m fast` — every connection is
 * terminated, as in a failover or a crash — while the deploy step runs. The release must stop
 * cleanly: an actionable error, the exit code of a failure before the switch, traffic untouched.
 * Once the server is back on the same data directory, `release --resume` completes it.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createDatabase,
  startSystemPostgres,
  systemPostgresBin,
  type LocalPostgres,
} from '../../src/local/postgres.js'
import { emulatorWalkStack, endState, expectReleasedFromBlue, type WalkStack } from '../support/crash-walk.js'
import { bluegreen, repoRoot, sql, startE2eStack } from '../support/e2e.js'
import { havePostgres } from '../support/postgres.js'
import { waitFor } from '../support/process.js'
import { expectActionable } from './actionable.js'

const plan = join(repoRoot, 'test/fixtures/drills/plan.yaml')
const release = ['release', plan, '--version', '2.0.0', '--yes']

/** A PostgreSQL of the drill's own, which it can stop and start again on the same data. */
interface StoppablePostgres {
  server: LocalPostgres
  /** `pg_ctl stop -m fast`: terminates every session, then the server. */
  goAway(): Promise<void>
  /** `pg_ctl start` on the same data directory and port. */
  comeBack(): Promise<void>
}

async function startStoppablePostgres(): Promise<StoppablePostgres> {
  const server = await startSystemPostgres()
  const [{ data_directory: dataDir }] = await sql<{ data_directory: string }>(
    server.url,
    'SHOW data_directory',
  )
  const pgCtl = join(systemPostgresBin()!, 'pg_ctl')
  // initdb and pg_ctl refuse to run as root; src/local/postgres.ts runs them as postgres too.
  const asPostgres = (args: string[]): [string, string[]] =>
    process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', pgCtl, ...args]] : [pgCtl, args]
  const run = async (args: string[]) => {
    const [file, rest] = asPostgres(args)
    await promisify(execFile)(file, rest, { timeout: 30_000 })
  }
  return {
    server,
    goAway: () => run(['-D', dataDir, '-m', 'fast', '-w', 'stop']),
    comeBack: () =>
      run(['-D', dataDir, '-l', join(dirname(dataDir), 'restart.log'), '-w', '-t', '30', 'start']),
  }
}

let postgres: StoppablePostgres | undefined
let stack: WalkStack | undefined
let holdDir: string | undefined
afterEach(async () => {
  // A deploy script still held (the drill failed early) is stopped by its PID, with its group.
  const held = holdDir && join(holdDir, 'started')
  if (held && existsSync(held)) {
    try {
      process.kill(-Number(readFileSync(held, 'utf8')), 'SIGKILL')
    } catch {
      // It finished.
    }
  }
  await stack?.close()
  await postgres?.server.stop()
  if (holdDir) rmSync(holdDir, { recursive: true, force: true })
  stack = postgres = holdDir = undefined
})

describe.runIf(havePostgres())('drill: the database goes away mid-release', () => {
  it('stops the release cleanly during deploy (exit 1, traffic untouched); --resume completes once it is back', async () => {
    // Given a stack on a PostgreSQL of its own, and a release held in the middle of its deploy step
    postgres = await startStoppablePostgres()
    stack = emulatorWalkStack(
      await startE2eStack({ databaseUrl: await createDatabase(postgres.server.url, 'drill') }),
    )
    holdDir = mkdtempSync(join(tmpdir(), 'bluegreen-hold-'))
    const running = bluegreen(release, { ...stack.cliEnv, DRILL_DEPLOY_HOLD: holdDir })
    await waitFor(() => existsSync(join(holdDir!, 'started')), 30_000, 'the deploy step to start')

    // When the database goes away, and the deploy carries on
    await postgres.goAway()
    writeFileSync(join(holdDir, 'go'), '')
    const run = await running

    // Then the release stops with an error a user can act on, as a failure before the switch
    // (soft: the resume below is checked and reported even when this part fails)
    expect.soft(run.code, run.stderr + run.stdout).toBe(1)
    expectActionable(run.stderr, undefined, expect.soft)
    // And no user saw the new version: the listener never moved
    expect((await stack.weightLog.read()).green).toBe(0)

    // When the database is back and the release is resumed
    await postgres.comeBack()
    const resumed = await bluegreen([...release, '--resume'], stack.cliEnv)

    // Then it completes, and ends as an uninterrupted release does
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0)
    expectReleasedFromBlue(expect, await endState(stack), { plan, switches: 'atomic' })
  })

  it('after the switch (during verify): stops with an actionable error and no split; the journal catches up once it is back', async () => {
    // Given a release on a PostgreSQL of its own, in its verify step (traffic already on green)
    postgres = await startStoppablePostgres()
    const databaseUrl = await createDatabase(postgres.server.url, 'drill')
    stack = emulatorWalkStack(await startE2eStack({ databaseUrl }))
    const running = bluegreen(release, stack.cliEnv)
    const verifyStep = 5
    await waitFor(
      async () =>
        (
          await sql(databaseUrl, `SELECT 1 FROM bluegreen.steps WHERE idx = $1 AND status = 'started'`, [
            verifyStep,
          ])
        ).length === 1,
      30_000,
      'the verify step to start',
    )

    // When the database goes away
    await postgres.goAway()
    const run = await running

    // Then: rolled back automatically (3) or left for a human (5), with an actionable error
    expect.soft([3, 5], run.stderr + run.stdout).toContain(run.code)
    expectActionable(run.stderr, undefined, expect.soft)
    // And the listener holds one pool, not a split: blue after a rollback, green otherwise
    const weights = await stack.weightLog.read()
    expect(weights.green === 0 || weights.green === 100, JSON.stringify(weights)).toBe(true)

    // When the database is back
    await postgres.comeBack()
    if (weights.green === 0) {
      // Then the next command writes the rollback to the journal
      expect((await bluegreen(['status', plan], stack.cliEnv)).code).toBe(0)
      const releases = await sql<{ status: string }>(databaseUrl, 'SELECT status FROM bluegreen.releases')
      expect(releases).toEqual([{ status: 'rolled_back' }])
    } else {
      // Then the release can be finished
      const resumed = await bluegreen([...release, '--resume'], stack.cliEnv)
      expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0)
      expectReleasedFromBlue(expect, await endState(stack), { plan, switches: 'atomic' })
    }
  })
})
