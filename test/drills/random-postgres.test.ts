/**
 * Drill (issue 20 item 3): PostgreSQL restarted during each phase of a release run by the built
 * CLI. The server is the drill's own; it is stopped by its PID (SIGINT: fast shutdown, or
 * SIGQUIT: immediate, as a crash) at a seeded random moment of the phase, stays down a random
 * while, and is started again on the same data directory and port. Seeds walk the phases in
 * turn (seed mod 8), so any 8 consecutive seeds restart it once in each.
 *
 * The release must exit with a documented code for where it was, `status` must read what it left,
 * and `--resume` (after an unfinished release) or a new `release` (after one that failed before the
 * switch) must end where the uninterrupted release ends; after an automatic rollback (3),
 * production is on blue. Production traffic (which does not need the database) never fails.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createDatabase,
  startSystemPostgres,
  systemPostgresBin,
  type LocalPostgres,
} from '../../src/local/postgres.js'
import { isProcessRunning } from '../../src/process-alive.js'
import { emulatorWalkStack, endState, expectReleasedFromBlue } from '../support/crash-walk.js'
import { bluegreen, e2ePlan, startE2eStack } from '../support/e2e.js'
import { havePostgres } from '../support/postgres.js'
import { waitFor } from '../support/process.js'
import {
  documentedExitCodes,
  drillSeeds,
  expectNoFailedRequests,
  lastJson,
  lineMatching,
  pick,
  productionLoad,
  random,
  startCli,
  stepLine,
  uniformMs,
  withSeed,
  type RunningCli,
} from './random-support.js'

const release = ['release', e2ePlan, '--version', '2.0.0', '--yes']
const status = ['status', e2ePlan, '--json']
const phases = ['expand', 'backfill', 'deploy', 'smoke', 'switch', 'verify', 'standby', 'contract'] as const

const seeds = drillSeeds('random-postgres.test.ts', { count: 40, ciCount: 8 })

/** A PostgreSQL of the drill's own, which it stops by PID and starts again on the same data and port. */
interface RestartablePostgres {
  server: LocalPostgres
  restart(signal: 'SIGINT' | 'SIGQUIT', downMs: number): Promise<void>
}

async function startRestartablePostgres(): Promise<RestartablePostgres> {
  const server = await startSystemPostgres()
  const dataDir = join(server.dir, 'data')
  const pgCtl = join(systemPostgresBin()!, 'pg_ctl')
  // pg_ctl refuses to run as root; src/local/postgres.ts runs it as postgres too.
  const [file, prefix] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', pgCtl]] : [pgCtl, []]
  return {
    server,
    async restart(signal, downMs) {
      const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
      process.kill(pid, signal)
      await waitFor(() => !isProcessRunning(pid), 30_000, `PostgreSQL (pid ${pid}) to stop`)
      await new Promise((resolve) => setTimeout(resolve, downMs))
      await promisify(execFile)(
        file,
        [...prefix, '-D', dataDir, '-l', join(server.dir, 'restart.log'), '-w', '-t', '30', 'start'],
        { timeout: 30_000 },
      )
    },
  }
}

interface StatusJson {
  pools: { pool: string; standing?: string; weight: number; version?: string }[]
  unfinished?: { state: string }
}

describe.runIf(havePostgres())('drill: PostgreSQL restarted at a random moment of each phase', () => {
  let postgres: RestartablePostgres | undefined
  let counter = 0
  const freshStack = async () =>
    emulatorWalkStack(
      await startE2eStack({ databaseUrl: await createDatabase(postgres!.server.url, `restart${counter++}`) }),
    )

  /** How long each phase takes uninterrupted: from its first line to the next phase's. */
  let phaseMs: Promise<number[]> | undefined
  const measured = () =>
    (phaseMs ??= (async () => {
      const stack = await freshStack()
      try {
        const run = startCli(release, stack.cliEnv)
        const seen: number[] = []
        for (const [index, kind] of phases.entries()) {
          await lineMatching(run, stepLine(index, kind))
          seen.push(performance.now())
        }
        const exit = await run.exited
        expect(exit.code, run.output()).toBe(0)
        seen.push(performance.now())
        expectReleasedFromBlue(expect, await endState(stack), { plan: e2ePlan, switches: 'atomic' })
        const durations = phases.map((_, i) => Math.max(50, Math.round(seen[i + 1] - seen[i])))
        console.log(
          `random restarts: uninterrupted phases ${phases.map((p, i) => `${p} ${durations[i]} ms`).join(', ')}`,
        )
        return durations
      } finally {
        await stack.close()
      }
    })())

  beforeAll(async () => {
    postgres = await startRestartablePostgres()
  })
  afterAll(async () => {
    await postgres?.server.stop()
  })

  it('an uninterrupted release: how long each phase lasts', async () => {
    expect((await measured()).length).toBe(phases.length)
  })

  for (const seed of seeds.seeds) {
    const phase = seed % phases.length
    it(`seed ${seed}: restarted during ${phases[phase]}, the release ends as the model says`, async () => {
      const log: string[] = []
      const durations = await measured()
      await withSeed(seeds, seed, log, async () => {
        const next = random(seed)
        const delay = uniformMs(next, durations[phase])
        const signal = pick(next, ['SIGINT', 'SIGQUIT'] as const)
        const downMs = uniformMs(next, 1000)
        // Given a fresh stack, and production traffic throughout
        const stack = await freshStack()
        const env = stack.cliEnv
        const load = productionLoad(`${stack.cliEnv.BLUEGREEN_DEMO_URL}/version`)
        let run: RunningCli | undefined
        try {
          // When PostgreSQL is stopped at a random moment of the phase, and started again
          run = startCli(release, env)
          await lineMatching(run, stepLine(phase, phases[phase]))
          await new Promise((resolve) => setTimeout(resolve, delay))
          const lastLine = run.output().trim().split('\n').at(-1) ?? ''
          await postgres!.restart(signal, downMs)
          log.push(
            `${signal} ${delay} ms into ${phases[phase]}, down ${downMs} ms (last line: ${lastLine.slice(0, 90)})`,
          )
          const exit = await run.exited
          const { green } = await stack.weightLog.read()
          log.push(`release → exit ${exit.code}, green at ${green}%`)
          // Then it exits with a documented code for where it was
          expect(documentedExitCodes, run.output()).toContain(exit.code)
          // Before the switch: done, failed (1) or lock lost (4); after: 0, 3, 4 or 5
          expect(phase < 4 ? [0, 1, 4] : [0, 3, 4, 5], run.output()).toContain(exit.code)
          // And traffic is on one pool, or (a release that stopped unfinished: 4, 5) at a split it asked for
          expect(
            exit.code === 4 || exit.code === 5 ? [0, 50, 100] : [0, 100],
            `green at ${green}%`,
          ).toContain(green)

          // Then status reads what it left
          const shown = await bluegreen(status, env)
          expect(shown.code, shown.stderr).toBe(0)
          const report = lastJson<StatusJson>(shown.stdout)
          log.push(
            `status: ${report.unfinished ? `unfinished (${report.unfinished.state})` : 'nothing unfinished'}`,
          )

          if (exit.code === 3) {
            // Rolled back automatically: production on blue 1.0.0, green rolled back, nothing unfinished
            expect(report.unfinished).toBeUndefined()
            const answers = await stack.production(8)
            expect(answers.every((a) => a.pool === 'blue' && a.version === '1.0.0')).toBe(true)
            expect(report.pools.find((p) => p.pool === 'green')?.standing).toBe('rolled_back')
          } else if (report.unfinished) {
            // When it is resumed, Then it ends as an uninterrupted release does
            const resumed = await bluegreen([...release, '--resume'], env)
            log.push(`--resume → exit ${resumed.code}`)
            expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0)
            expectReleasedFromBlue(expect, await endState(stack), { plan: e2ePlan, switches: 'atomic' })
          } else if (exit.code === 0) {
            expectReleasedFromBlue(expect, await endState(stack), { plan: e2ePlan, switches: 'atomic' })
          } else {
            // Failed before the switch (users never saw it): a new release of 2.0.0 completes it
            expect(exit.code, run.output()).toBe(1)
            expect(green).toBe(0)
            const again = await bluegreen(release, env)
            log.push(`release again → exit ${again.code}`)
            expect(again.code, again.stderr + again.stdout).toBe(0)
            const end = await endState(stack)
            expect(end.production.every((a) => a.pool === 'green' && a.version === '2.0.0')).toBe(true)
            expect(end.releases.map((r) => r.status)).toEqual(['failed', 'done'])
            expect(end.journalPools).toEqual([
              { pool: 'blue', version: null, standing: 'standby' },
              { pool: 'green', version: '2.0.0', standing: 'live' },
            ])
            expect(end.migrations.map((m) => `${m.phase}/${m.file}:${m.applied}`)).toEqual([
              'expand/001_profiles_first_last.sql:true',
              'expand/002_profiles_index.sql:true',
            ])
            expect(end.profilesNotBackfilled).toBe(0)
            expect(end.contracts).toMatchObject([{ version: '2.0.0', pending: true }])
          }
          expectNoFailedRequests(await load.stop())
        } finally {
          await load.stop()
          await run?.stop()
          await stack.close()
        }
      })
    })
  }
})
