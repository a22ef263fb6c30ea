/**
 * Drill (issue 20 item 3, issue 12 item 5): the release lock's PostgreSQL session is cut at a
 * seeded random moment of a release run by the built CLI — `pg_terminate_backend` on the lock
 * holder's backend, sometimes with an on-call `rollback` started right after (the lock is free
 * then) — or `idle_session_timeout` is set low for the database or for the role in it. The
 * release either completes (the lock survived) or stops with exit 4 (LOCK_LOST) and touches the
 * load balancer no more; production never ends on a version the model forbids: after a rollback
 * that succeeded it is on blue 1.0.0, whatever the release did after losing its lock.
 * Production traffic runs throughout and no request may fail.
 */
import { describe, expect, it } from 'vitest'
import { emulatorWalkStack, endState, expectReleasedFromBlue } from '../support/crash-walk.js'
import { bluegreen, e2ePlan, sql, startE2eStack } from '../support/e2e.js'
import {
  documentedExitCodes,
  drillSeeds,
  expectNoFailedRequests,
  lastJson,
  pick,
  productionLoad,
  random,
  startCli,
  uniformMs,
  withSeed,
} from './random-support.js'

const release = ['release', e2ePlan, '--version', '2.0.0', '--yes']
const rollback = ['rollback', '--plan', e2ePlan, '--yes', '--wait-lock', '10s']
const status = ['status', e2ePlan, '--json']

const seeds = drillSeeds('random-lock.test.ts', {
  count: 40,
  ciCount: 3,
  // One of each cut; the idle_session_timeout one (98 ms) cuts the expand phase's session today
  ciSeed: 20_261_211,
})

type Cut = 'terminate' | 'terminate, then rollback' | 'idle_session_timeout'
const cuts: readonly Cut[] = ['terminate', 'terminate, then rollback', 'idle_session_timeout']

interface StatusJson {
  pools: { pool: string; standing?: string; weight: number }[]
  unfinished?: { state: string }
}

/** Terminates the backend that holds the release lock; true when there was one. */
async function terminateLockHolder(databaseUrl: string): Promise<boolean> {
  const rows = await sql<{ ok: boolean }>(
    databaseUrl,
    `SELECT pg_terminate_backend(l.backend_pid) AS ok FROM bluegreen.locks l
      WHERE EXISTS (SELECT 1 FROM pg_locks k WHERE k.pid = l.backend_pid AND k.locktype = 'advisory' AND k.granted)`,
  ).catch(() => [])
  return rows.some((r) => r.ok)
}

describe("drill: the release lock's connection cut at seeded random moments", () => {
  let releaseMs: Promise<number> | undefined
  /** How long an uninterrupted release takes here: the range of the random moment. */
  const measured = () =>
    (releaseMs ??= (async () => {
      const stack = emulatorWalkStack(await startE2eStack())
      try {
        const run = await startCli(release, stack.cliEnv).exited
        expect(run.code).toBe(0)
        expectReleasedFromBlue(expect, await endState(stack), { plan: e2ePlan, switches: 'atomic' })
        console.log(`random lock cuts: uninterrupted release ${Math.round(run.ms)} ms`)
        return run.ms
      } finally {
        await stack.close()
      }
    })())

  it('an uninterrupted release: how long the random moment may be', async () => {
    expect(await measured()).toBeGreaterThan(500)
  })

  for (const seed of seeds.seeds) {
    it(`seed ${seed}: the release completes or stops with exit 4, and production stays as the model says`, async () => {
      const log: string[] = []
      const maxMs = await measured()
      await withSeed(seeds, seed, log, async () => {
        const next = random(seed)
        // Each way of cutting in turn: any 3 consecutive seeds try them all
        const cut = cuts[seed % cuts.length]
        const delay = uniformMs(next, maxMs)
        // Given a fresh stack, and production traffic throughout
        const e2e = await startE2eStack()
        const stack = emulatorWalkStack(e2e)
        const env = stack.cliEnv
        const load = productionLoad(`${e2e.productionUrl}/version`)
        try {
          if (cut === 'idle_session_timeout') {
            // Given a low idle_session_timeout for the database, or for the role in it
            const timeout = 50 + uniformMs(next, 250)
            const database = new URL(stack.databaseUrl).pathname.slice(1)
            const scope = pick(next, ['DATABASE', 'ROLE'] as const)
            await sql(
              stack.databaseUrl,
              scope === 'DATABASE'
                ? `ALTER DATABASE "${database}" SET idle_session_timeout = '${timeout}ms'`
                : `ALTER ROLE postgres IN DATABASE "${database}" SET idle_session_timeout = '${timeout}ms'`,
            )
            log.push(`idle_session_timeout ${timeout} ms on the ${scope.toLowerCase()}`)
            // When 2.0.0 is released (its steps idle far longer than that)
            const cli = startCli(release, env)
            const run = await cli.exited
            log.push(`release → exit ${run.code}`)
            // Then every session of the release outlives the limit: it completes
            expect(run.code, cli.output()).toBe(0)
            const shown = await bluegreen(status, env)
            expect(shown.code, shown.stderr).toBe(0)
            expectReleasedFromBlue(expect, await endState(stack), { plan: e2ePlan, switches: 'atomic' })
            expectNoFailedRequests(await load.stop())
            return
          }

          // When the lock holder's backend is terminated at a random moment of the release
          const running = startCli(release, env)
          const exited = running.exited
          await Promise.race([new Promise((resolve) => setTimeout(resolve, delay)), exited])
          const writesBefore = stack.weightLog.writes() ?? 0
          const terminated = await terminateLockHolder(stack.databaseUrl)
          const writesAtCut = stack.weightLog.writes() ?? 0
          log.push(`${cut} after ${delay} ms: ${terminated ? 'cut the lock holder' : 'no lock held then'}`)
          const onCall =
            terminated && cut === 'terminate, then rollback' ? bluegreen(rollback, env) : undefined
          const run = await exited
          const writesAfter = stack.weightLog.writes() ?? 0
          log.push(
            `release → exit ${run.code}, ${writesAfter - writesAtCut} load-balancer writes after the cut`,
          )
          expect(documentedExitCodes, running.output()).toContain(run.code)

          if (!terminated) {
            // Then a release whose lock nobody cut completes
            expect(run.code, running.output()).toBe(0)
            expectReleasedFromBlue(expect, await endState(stack), { plan: e2ePlan, switches: 'atomic' })
            expectNoFailedRequests(await load.stop())
            return
          }
          // Then it completed (its last check was before the cut), or it stopped: exit 4, LOCK_LOST
          expect([0, 4], running.output()).toContain(run.code)
          if (run.code === 4) {
            expect(running.output()).toContain('LOCK_LOST')
            // And touched nothing more: at most the one write it had already checked its lock for
            expect(
              writesAfter - writesBefore,
              'load-balancer writes after the lock was lost',
            ).toBeLessThanOrEqual(1)
          }

          if (onCall) {
            // When an on-call engineer rolled back meanwhile, Then the rollback worked (0)
            const rolledBack = await onCall
            log.push(`on-call rollback → exit ${rolledBack.code}`)
            expect(rolledBack.code, rolledBack.stderr + rolledBack.stdout).toBe(0)
            // And production is on blue 1.0.0, and stays there: the release did not switch again
            const answers = await stack.production(16)
            expect(
              answers.every((a) => a.pool === 'blue' && a.version === '1.0.0'),
              JSON.stringify(answers),
            ).toBe(true)
            const shown = await bluegreen(status, env)
            expect(shown.code, shown.stderr).toBe(0)
            const report = lastJson<StatusJson>(shown.stdout)
            expect(report.unfinished, 'the rollback closed the release').toBeUndefined()
            expect(report.pools.find((p) => p.pool === 'blue')).toMatchObject({
              standing: 'live',
              weight: 100,
            })
            const green = report.pools.find((p) => p.pool === 'green')?.standing
            // Green rolled back when traffic had reached it; a candidate when the rollback only closed
            // the release after its deploy began; no record when it was closed before that
            expect(['rolled_back', 'candidate', undefined]).toContain(green)
            // And a second rollback changes nothing: blue is already the known-good pool (0), or, after a
            // release closed before it reached users, there is nothing to roll back to (5, as the model says)
            const again = await bluegreen(rollback, env)
            log.push(`second rollback → exit ${again.code} (green ${green})`)
            expect(again.code, again.stderr).toBe(green === 'rolled_back' ? 0 : 5)
            if (green !== 'rolled_back') expect(again.stderr).toContain('NO_ROLLBACK_TARGET')
            expect((await stack.weightLog.read()).green).toBe(0)
          } else {
            // Then status reads it (0), --resume finishes a stopped release, and it ends as an uninterrupted one
            const shown = await bluegreen(status, env)
            expect(shown.code, shown.stderr).toBe(0)
            const unfinished = lastJson<StatusJson>(shown.stdout).unfinished
            expect(Boolean(unfinished), shown.stdout.slice(-400)).toBe(run.code === 4)
            if (run.code === 4) {
              const resumed = await bluegreen([...release, '--resume'], env)
              log.push(`--resume → exit ${resumed.code}`)
              expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0)
            }
            expectReleasedFromBlue(expect, await endState(stack), { plan: e2ePlan, switches: 'atomic' })
          }
          expectNoFailedRequests(await load.stop())
        } finally {
          await load.stop()
          await stack.close()
        }
      })
    })
  }
})
