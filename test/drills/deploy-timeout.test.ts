/**
 * Drill 5 (issue 8): a deploy command that hangs is stopped at its timeout together with every
 * process it started. The deploy script (test/fixtures/drills/hang-deploy.sh) starts a child and
 * waits on a sleep of its own, and writes their PIDs to a file; after the timeout the release
 * fails before the switch (exit 1, DEPLOY_TIMEOUT) and none of them is alive.
 */
import { isProcessRunning } from '../../src/process-alive.js'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { builtCliEnv, emulatorWeightLog } from '../support/crash-walk.js'
import { bluegreen, productionPool, repoRoot, sql, startE2eStack, type E2eStack } from '../support/e2e.js'
import { waitFor } from '../support/process.js'
import { expectActionable } from './actionable.js'

const plan = join(repoRoot, 'test/fixtures/drills/hang-plan.yaml')
const release = ['release', plan, '--version', '2.0.0', '--yes']
/** run-command.ts waits this long between SIGTERM and SIGKILL. */
const killGraceMs = 2000

let stack: E2eStack | undefined
let dir: string | undefined
let pids: number[] = []
afterEach(async () => {
  // Whatever the drill found, it leaves no process behind.
  for (const pid of pids.filter(isProcessRunning)) process.kill(pid, 'SIGKILL')
  await stack?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
  stack = dir = undefined
  pids = []
})

function recordedPids(file: string): Map<string, number> {
  const lines = readFileSync(file, 'utf8').trim().split('\n')
  return new Map(lines.map((line) => [line.split(' ')[0], Number(line.split(' ')[1])] as const))
}

describe('drill: a deploy command that hangs', () => {
  const variants: { name: string; env: Record<string, string> }[] = [
    { name: 'stops on SIGTERM', env: {} },
    { name: 'ignores SIGTERM (and so do its children)', env: { DRILL_IGNORE_TERM: '1' } },
  ]
  for (const variant of variants) {
    it(`is stopped at its timeout with its children, when it ${variant.name} (exit 1, DEPLOY_TIMEOUT)`, async () => {
      // Given a release whose deploy command hangs
      stack = await startE2eStack({ profiles: 10 })
      const weights = emulatorWeightLog(stack)
      dir = mkdtempSync(join(tmpdir(), 'bluegreen-hang-'))
      const pidFile = join(dir, 'pids')

      // When it runs into the deploy timeout
      const started = Date.now()
      const run = await bluegreen(release, {
        ...stack.cliEnv,
        ...builtCliEnv,
        ...variant.env,
        DRILL_PIDS: pidFile,
      })
      const ms = Date.now() - started
      const recorded = recordedPids(pidFile)
      pids = [...recorded.values()]

      // Then the release fails before the switch, saying what hung and for how long
      expect(run.code, run.stderr).toBe(1)
      expectActionable(run.stderr, 'DEPLOY_TIMEOUT')
      expect(run.stderr).toContain('deploying, slowly')
      expect(ms).toBeLessThan(30_000)
      // And the script, its child and its own sleep are all gone
      expect([...recorded.keys()].sort()).toEqual(['child', 'script', 'sleeper'])
      await waitFor(
        () => pids.every((pid) => !isProcessRunning(pid)),
        killGraceMs,
        'the deploy processes to be reaped',
      )
      for (const [role, pid] of recorded) expect(isProcessRunning(pid), `${role} ${pid} is alive`).toBe(false)
      // And nothing moved
      expect(weights.states().map((w) => w.green)).toEqual([0])
      expect(await productionPool(stack)).toBe('blue')
      expect(await sql(stack.databaseUrl, 'SELECT status FROM bluegreen.releases')).toEqual([
        { status: 'failed' },
      ])
    })
  }
})
