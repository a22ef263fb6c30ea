/**
 * `--wait-lock`: two pipelines started together both finish, one after the other, instead of
 * the second failing with exit 4; the one that waits says who holds the lock and at which step.
 * The built CLI against a real PostgreSQL journal, the ELBv2 emulator and the demo app.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { e2ePlan, productionPool, repoRoot, sql, startE2eStack, type E2eStack } from '../support/e2e.js'
import { startProcess, waitFor, type Started } from '../support/process.js'

let stack: E2eStack | undefined
const started: Started[] = []
afterEach(async () => {
  for (const p of started.splice(0)) await p.stop()
  await stack?.close()
  stack = undefined
})

describe('two pipelines with --wait-lock', () => {
  it('both finish, one after the other; the second said who held the lock', async () => {
    // Given production on blue
    stack = await startE2eStack({ profiles: 50 })
    const env = { ...process.env, ...stack.cliEnv }
    const pipeline = (version: string) =>
      startProcess(
        process.execPath,
        [
          join(repoRoot, 'bin/run.js'),
          'release',
          e2ePlan,
          '--version',
          version,
          '--yes',
          '--wait-lock',
          '2m',
        ],
        { cwd: repoRoot, env },
      )

    // When two releases start together
    const a = pipeline('2.0.0')
    const b = pipeline('3.0.0')
    started.push(a, b)
    const [exitA, exitB] = await Promise.all([a.exited, b.exited])

    // Then both finished
    expect(exitA.code, a.output()).toBe(0)
    expect(exitB.code, b.output()).toBe(0)
    // And one waited, naming the other's process and its step
    const waited = [a, b].filter((p) => p.output().includes('waiting for the release lock of shop'))
    expect(waited).toHaveLength(1)
    const other = waited[0] === a ? b : a
    expect(waited[0].output()).toMatch(new RegExp(`held by .*\\(pid ${other.pid} on .*bluegreen release`))
    expect(waited[0].output()).toMatch(/at step \d+ \w+ of release \d\.0\.0|at its start of release/)
    // And the journal has both releases done, one after the other
    const releases = await sql<{ version: string; status: string; started_at: Date; finished_at: Date }>(
      stack.databaseUrl,
      `SELECT version, status, started_at, finished_at FROM bluegreen.releases ORDER BY started_at`,
    )
    expect(releases.map((r) => r.status)).toEqual(['done', 'done'])
    expect(releases[1].started_at.getTime()).toBeGreaterThanOrEqual(releases[0].finished_at.getTime())
    // And production serves the one that ran second, from the pool it switched to
    const second = releases[1].version
    const response = (await (await fetch(`${stack.productionUrl}/version`)).json()) as { version: string }
    expect(response.version).toBe(second)
    expect(await productionPool(stack)).toBe(second === releases[0].version ? 'green' : 'blue')
  })

  it('rollback and retire wait for a running release too, then act on what it left', async () => {
    // Given 2.0.0 released, and 3.0.0 being released
    stack = await startE2eStack({ profiles: 50 })
    const env = { ...process.env, ...stack.cliEnv }
    const cli = (...args: string[]) =>
      startProcess(process.execPath, [join(repoRoot, 'bin/run.js'), ...args], { cwd: repoRoot, env })
    const first = cli('release', e2ePlan, '--version', '2.0.0', '--yes')
    started.push(first)
    expect((await first.exited).code, first.output()).toBe(0)
    const release = cli('release', e2ePlan, '--version', '3.0.0', '--yes')
    started.push(release)
    await waitFor(() => release.output().includes('[1/8 expand]'), 30_000, 'the release to hold the lock')
    // When an on-call engineer rolls back, and someone retires, both with --wait-lock
    const rollback = cli('rollback', '--plan', e2ePlan, '--yes', '--wait-lock', '2m')
    started.push(rollback)
    const [releaseExit, rollbackExit] = [await release.exited, await rollback.exited]
    // Then the release finished, the rollback waited for it and then undid it
    expect(releaseExit.code, release.output()).toBe(0)
    expect(rollbackExit.code, rollback.output()).toBe(0)
    expect(rollback.output()).toContain('waiting for the release lock of shop')
    expect(await productionPool(stack)).toBe('green')
    // And retire waits the same way (nothing holds the lock now: it acts at once)
    const retire = cli('retire', e2ePlan, '--yes', '--wait-lock', '10s')
    started.push(retire)
    expect((await retire.exited).code, retire.output()).toBe(0)
  })
})
