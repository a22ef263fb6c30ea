/**
 * Drill (issue 20 item 3): SIGKILL of the built CLI's `release`, and then of its `rollback`, at a
 * seeded random moment of their whole run — the delay drawn uniformly between 0 and how long the
 * uninterrupted command took in this run — with production traffic throughout (a keep-alive load
 * client against the listener). After each kill: `status`, then `release --resume` (or a second
 * `rollback`). Every seed must end exactly as the uninterrupted run did: the same version live,
 * the same standing of each pool in `status --json`, the same journal, each asked split made
 * once, zero failed production requests, and only documented exit codes.
 *
 * Real components: PostgreSQL, the ELBv2 emulator through the AWS SDK, the demo app's pools.
 */
import { describe, expect, it } from 'vitest'
import {
  emulatorWalkStack,
  emulatorWeightLog,
  endState,
  type EndState,
  type WalkStack,
} from '../support/crash-walk.js'
import { bluegreen, e2ePlan, startE2eStack, type E2eStack } from '../support/e2e.js'
import {
  documentedExitCodes,
  drillSeeds,
  expectNoFailedRequests,
  lastJson,
  poolStandings,
  productionLoad,
  random,
  startCli,
  uniformMs,
  withSeed,
  type PoolStanding,
} from './random-support.js'

const release = ['release', e2ePlan, '--version', '2.0.0', '--yes']
const rollback = ['rollback', '--plan', e2ePlan, '--yes']
const status = ['status', e2ePlan, '--json']

const seeds = drillSeeds('random-kills.test.ts', { count: 40, ciCount: 2 })

interface StatusJson {
  pools: (PoolStanding & Record<string, unknown>)[]
  unfinished?: { release: { version: string }; state: string }
}

/** What must not depend on whether a command was killed on the way. */
interface Milestone {
  standings: PoolStanding[]
  /** The journal, the schema and the servers (traffic history left out: it is compared at the end). */
  end: Omit<EndState, 'weights' | 'lbWrites'>
}

async function milestone(stack: E2eStack, env: Record<string, string>): Promise<Milestone> {
  const shown = await bluegreen(status, env)
  expect(shown.code, shown.stderr).toBe(0)
  const report = lastJson<StatusJson>(shown.stdout)
  expect(report.unfinished, 'no release is left unfinished').toBeUndefined()
  // A recorder started now: endState stops the one of the drill, which must go on recording.
  const walk = { ...emulatorWalkStack(stack), weightLog: emulatorWeightLog(stack) }
  const { weights: _weights, lbWrites: _writes, ...end } = await endState(walk)
  return { standings: poolStandings(report), end }
}

interface Reference {
  releaseMs: number
  rollbackMs: number
  released: Milestone
  rolledBack: Milestone
  end: EndState
}

/** The uninterrupted run, under the same load: the reference every seed must end like. */
async function uninterrupted(): Promise<Reference> {
  const e2e = await startE2eStack()
  const stack = emulatorWalkStack(e2e)
  const load = productionLoad(`${e2e.productionUrl}/`)
  try {
    const released = await startCli(release, stack.cliEnv).exited
    expect(released.code).toBe(0)
    const afterRelease = await milestone(e2e, stack.cliEnv)
    const rolledBack = await startCli(rollback, stack.cliEnv).exited
    expect(rolledBack.code).toBe(0)
    const afterRollback = await milestone(e2e, stack.cliEnv)
    expectNoFailedRequests(await load.stop())
    return {
      releaseMs: released.ms,
      rollbackMs: rolledBack.ms,
      released: afterRelease,
      rolledBack: afterRollback,
      end: await endState(stack),
    }
  } finally {
    await load.stop()
    await stack.close()
  }
}

/**
 * Runs `args`, SIGKILLs it after `delayMs` unless it finished first, and says which it was. A
 * command that finished must have exited as the uninterrupted one did (0).
 */
async function killedAfter(args: string[], stack: WalkStack, delayMs: number, log: string[]): Promise<void> {
  const run = startCli(args, stack.cliEnv)
  const timer = setTimeout(() => run.kill(), delayMs)
  const exit = await run.exited.finally(() => clearTimeout(timer))
  const lastLine = run.output().trim().split('\n').at(-1) ?? ''
  if (exit.signal === 'SIGKILL') {
    const { green } = await stack.weightLog.read()
    log.push(
      `${args[0]} killed after ${delayMs} ms, green at ${green}% (last line: ${lastLine.slice(0, 100)})`,
    )
  } else {
    log.push(`${args[0]} finished in ${Math.round(exit.ms)} ms before its kill at ${delayMs} ms`)
    expect(documentedExitCodes, run.output()).toContain(exit.code)
    expect(exit.code, run.output()).toBe(0)
  }
}

describe('drill: SIGKILL of release and rollback at seeded random moments, under production traffic', () => {
  let reference: Promise<Reference> | undefined
  const referenceRun = () => (reference ??= uninterrupted())

  it('the uninterrupted release and rollback: the reference, and how long each takes', async () => {
    const started = Date.now()
    // Given a fresh stack under load, When 2.0.0 is released and rolled back without interruption
    const ref = await referenceRun()
    // Then green 2.0.0 was live, then blue again, green rolled back
    expect(ref.released.standings.map((p) => [p.pool, p.standing, p.weight])).toEqual([
      ['blue', 'standby', 0],
      ['green', 'live', 100],
    ])
    expect(ref.rolledBack.standings.map((p) => [p.pool, p.standing, p.weight])).toEqual([
      ['blue', 'live', 100],
      ['green', 'rolled_back', 0],
    ])
    expect(ref.end.weights.map((w) => w.green)).toEqual([0, 50, 100, 0])
    console.log(
      `random kills: uninterrupted release ${Math.round(ref.releaseMs)} ms, rollback ${Math.round(ref.rollbackMs)} ms (reference in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    )
  })

  for (const seed of seeds.seeds) {
    it(`seed ${seed}: release and rollback killed at random moments end as the uninterrupted run`, async () => {
      const log: string[] = []
      const ref = await referenceRun()
      await withSeed(seeds, seed, log, async () => {
        const next = random(seed)
        const releaseDelay = uniformMs(next, ref.releaseMs)
        const rollbackDelay = uniformMs(next, ref.rollbackMs)
        // Given a fresh stack, and production traffic throughout
        const e2e = await startE2eStack()
        const stack = emulatorWalkStack(e2e)
        const env = stack.cliEnv
        const load = productionLoad(`${e2e.productionUrl}/`)
        try {
          // When the release is killed at a random moment
          await killedAfter(release, stack, releaseDelay, log)
          // Then status reads it (exit 0), and --resume finishes it
          const after = await bluegreen(status, env)
          expect(after.code, after.stderr).toBe(0)
          const unfinished = lastJson<StatusJson>(after.stdout).unfinished
          log.push(`status: ${unfinished ? `unfinished (${unfinished.state})` : 'nothing unfinished'}`)
          const resumed = await bluegreen([...release, '--resume'], env)
          log.push(`--resume → exit ${resumed.code}`)
          if (unfinished) {
            expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0)
          } else {
            // Killed before it was journaled, or after it finished: nothing to resume (usage, 2),
            // and the release is run again — a no-op when it had finished.
            expect(resumed.code, resumed.stderr).toBe(2)
            expect(resumed.stderr).toContain('NOTHING_TO_RESUME')
            const again = await bluegreen(release, env)
            log.push(`release again → exit ${again.code}`)
            expect(again.code, again.stderr + again.stdout).toBe(0)
          }
          // And it ends as the uninterrupted release did
          expect(await milestone(e2e, env)).toEqual(ref.released)

          // When the rollback is killed at a random moment
          await killedAfter(rollback, stack, rollbackDelay, log)
          const afterRollback = await bluegreen(status, env)
          expect(afterRollback.code, afterRollback.stderr).toBe(0)
          // Then a second rollback finishes it, or finds it done (0 both ways)
          const second = await bluegreen(rollback, env)
          log.push(`second rollback → exit ${second.code}`)
          expect(second.code, second.stderr + second.stdout).toBe(0)
          // And it ends as the uninterrupted rollback did: blue live, green rolled back
          expect(await milestone(e2e, env)).toEqual(ref.rolledBack)
          // And traffic went through the asked splits only, each once: 0 → 50 → 100 → 0
          expect(await endState(stack)).toEqual(ref.end)
          // And no production request failed, kills or not
          expectNoFailedRequests(await load.stop())
        } finally {
          await load.stop()
          await stack.close()
        }
      })
    })
  }
})
