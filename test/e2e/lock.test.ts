/**
 * The fenced release lock, end to end: a release whose lock's session is cut while it works
 * stops at its next check (exit 4) and touches nothing more, even when a rollback took the lock
 * in between. Once, the release went on and switched production back to the new version.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, runCli } from '../support/cli.js'
import { sql } from '../support/e2e.js'
import { waitFor } from '../support/process.js'
import { planFor, startStack, type Stack } from '../model/drivers.js'

let stack: Stack
beforeAll(async () => {
  stack = await startStack('postgres')
})
afterAll(async () => {
  await stack?.close()
})

/** A release of 2.0.0 held in its deploy step (which sleeps 3 s), with its output collected. */
function heldRelease(env: Record<string, string>) {
  const release = spawn(
    process.execPath,
    [
      join(repoRoot, 'bin/run.js'),
      'release',
      planFor('postgres'),
      '--version',
      '2.0.0',
      '--live-version',
      '1.0.0',
      '--yes',
    ],
    { env: { ...process.env, ...env, MODEL_DEPLOY_SLEEP: '3' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  release.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  release.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => release.once('exit', (code) => resolve(code)))
  return {
    pid: release.pid,
    output: () => output,
    exited,
    inDeploy: () => waitFor(() => output.includes('[2/7 deploy]'), 20_000, 'the release to reach its deploy'),
    async stop() {
      if (release.exitCode === null) release.kill('SIGKILL')
      await exited
    },
  }
}

const cutLock = (env: Record<string, string>, app: string) =>
  sql<{ ok: boolean }>(
    env.DATABASE_URL,
    `SELECT pg_terminate_backend(backend_pid) AS ok FROM bluegreen.locks WHERE app = $1`,
    [app],
  )

const production = async () =>
  ((await (await fetch(`${stack.local.productionUrl}/version`)).json()) as { pool: string }).pool

describe('a release that loses its lock', () => {
  it('stops at its next check, exits 4 and never switches after a rollback took the lock', async () => {
    const app = 'lockcut'
    const env = stack.env(app)
    await stack.world(app, 'cli')
    const plan = planFor('postgres')
    // Given a release held in its deploy step (the deploy sleeps 3 s)
    const release = heldRelease(env)
    try {
      await release.inDeploy()
      // When its lock's session is cut (as idle_session_timeout or a restart would)
      expect(await cutLock(env, app)).toEqual([{ ok: true }])
      // And an on-call engineer rolls back meanwhile: the lock is free, the release never moved traffic
      const rollback = await runCli(['rollback', '--plan', plan, '--yes'], { env })
      expect(rollback.code, rollback.stderr).toBe(0)
      expect(rollback.stdout).toContain('never reached users')
      // Then the release stops at its next check, saying it lost the lock, and exits 4
      expect(await release.exited).toBe(4)
      expect(release.output()).toContain('LOCK_LOST')
      // And production never moved to the new version
      expect(await production()).toBe('blue')
      const switches = await sql(
        env.DATABASE_URL,
        `SELECT 1 FROM bluegreen.steps s JOIN bluegreen.releases r ON r.id = s.release_id WHERE r.app = $1 AND s.kind = 'switch'`,
        [app],
      )
      expect(switches).toHaveLength(0)
    } finally {
      await release.stop()
    }
  })

  it('a --resume refuses to run beside the release it would resume, while that one still runs', async () => {
    const app = 'lockbeside'
    const env = stack.env(app)
    await stack.world(app, 'cli')
    const plan = planFor('postgres')
    const release = heldRelease(env)
    try {
      await release.inDeploy()
      await cutLock(env, app)
      // When --resume starts while the original release is still alive on this host
      const resume = await runCli(['release', plan, '--resume', '--yes'], { env })
      // Then it refuses, naming the process that still runs
      expect(resume.code).toBe(4)
      expect(resume.stderr).toContain(`pid ${release.pid}`)
      expect(resume.stderr).toContain("its lock's database session was cut")
      expect(await release.exited).toBe(4)
      // And once that one is gone, --resume finishes the release
      const resumed = await runCli(['release', plan, '--resume', '--yes'], { env })
      expect(resumed.code, resumed.stderr).toBe(0)
      expect(await production()).toBe('green')
    } finally {
      await release.stop()
    }
  })
})
