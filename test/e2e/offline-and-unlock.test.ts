/**
 * Rollback at 3 a.m. with the database down, and a stale lock cleared by hand: both against a
 * PostgreSQL of their own (this test stops it), the ELBv2 emulator and real app servers.
 */
import { isProcessRunning } from '../../src/process-alive.js'
import { afterEach, describe, expect, it } from 'vitest'
import { createDatabase, startSystemPostgres, type LocalPostgres } from '../../src/local/postgres.js'
import { startLocalStack, type LocalStack } from '../../src/local/stack.js'
import { startProcess, waitFor } from '../support/process.js'
import { bluegreen, e2ePlan, productionPool, repoRoot, sql } from '../support/e2e.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let server: LocalPostgres | undefined
let stack: LocalStack | undefined
let stateDir: string | undefined
afterEach(async () => {
  await stack?.close()
  await server?.stop()
  if (stateDir) rmSync(stateDir, { recursive: true, force: true })
  stack = undefined
  server = undefined
  stateDir = undefined
})

async function ownStack() {
  server = await startSystemPostgres()
  const url = await createDatabase(server.url, 'shop')
  stack = await startLocalStack({ databaseUrl: url, healthInterval: '200ms', profiles: 500 })
  const env = {
    ...stack.env,
    BLUEGREEN_STATE_DIR: (stateDir = mkdtempSync(join(tmpdir(), 'bluegreen-state-'))),
    CI: 'true',
  }
  return { url, env, stack }
}

describe('rollback with the database down', () => {
  it('switches back using the load balancer alone, and the journal catches up later', async () => {
    // Given 2.0.0 released to green
    const { env, stack } = await ownStack()
    expect((await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], env)).code).toBe(0)
    expect(await productionPool(stack)).toBe('green')

    // When PostgreSQL is stopped and the on-call engineer rolls back
    await server!.stop()
    const rollback = await bluegreen(['rollback', '--plan', e2ePlan, '--yes'], env)

    // Then production is back on blue, and the command says the journal entry is pending
    expect(rollback.code).toBe(0)
    expect(await productionPool(stack)).toBe('blue')
    expect(rollback.stdout).toContain('database is unreachable')
    expect(rollback.stdout).toContain('journal entry pending')

    // And the entry waits in the spool for the next command that reaches the database
    const { readFileSync } = await import('node:fs')
    const spooled = readFileSync(join(env.BLUEGREEN_STATE_DIR, 'shop.spool.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            kind: string
            rollback?: { id: string; from: string; to: string }
            id?: string
          },
      )
    // The intent was written (and fsynced) before the switch, its completion after it
    expect(spooled.map((l) => l.kind)).toEqual(['rollback.intent', 'rollback.done'])
    expect(spooled[0].rollback).toMatchObject({ from: 'green', to: 'blue' })
    expect(spooled[1].id).toBe(spooled[0].rollback?.id)
  })
})

describe('rollback on a laptop without the database secret', () => {
  it('goes offline when DATABASE_URL is unset, switches back and spools the entry, even with no migration dirs beside the plan', async () => {
    // Given 2.0.0 released to green
    const { env, stack } = await ownStack()
    expect((await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], env)).code).toBe(0)
    // And the on-call laptop's copy of the plan: no migration directories next to it
    const { copyFileSync, readFileSync } = await import('node:fs')
    const laptop = mkdtempSync(join(tmpdir(), 'bluegreen-laptop-'))
    try {
      const plan = join(laptop, 'plan.yaml')
      copyFileSync(e2ePlan, plan)

      // When the on-call engineer rolls back with DATABASE_URL unset (the plan has no default for it)
      const rollback = await bluegreen(['rollback', '--plan', plan, '--yes'], {
        ...env,
        DATABASE_URL: undefined,
      })

      // Then production is back on blue, with a warning that the journal is offline
      expect(rollback.code, rollback.stderr).toBe(0)
      expect(await productionPool(stack)).toBe('blue')
      expect(rollback.stdout).toContain('DATABASE_URL is not set')
      expect(rollback.stdout).toContain('journal entry pending')
      // And the entry is spooled exactly as when the database is down
      const spooled = readFileSync(join(env.BLUEGREEN_STATE_DIR, 'shop.spool.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { kind: string; rollback?: { from: string; to: string } })
      expect(spooled.map((l) => l.kind)).toEqual(['rollback.intent', 'rollback.done'])
      expect(spooled[0].rollback).toMatchObject({ from: 'green', to: 'blue' })
    } finally {
      rmSync(laptop, { recursive: true, force: true })
    }
  })

  it('still refuses a plan whose load balancer needs an unset variable', async () => {
    const plan = await bluegreen(['rollback', '--plan', e2ePlan, '--yes'], {
      BLUEGREEN_LISTENER_ARN: undefined,
      BLUEGREEN_STATE_DIR: (stateDir = mkdtempSync(join(tmpdir(), 'bluegreen-state-'))),
      CI: 'true',
    })
    expect(plan.code).toBe(2)
    expect(plan.stderr).toContain('BLUEGREEN_LISTENER_ARN is not set')
  })
})

describe('rollback with a database that never answers (a network partition)', () => {
  it('gives up on the database after PGCONNECT_TIMEOUT and switches back anyway', async () => {
    // Given 2.0.0 released to green, and a "database" that accepts connections and stays silent
    const { url, env, stack } = await ownStack()
    expect((await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], env)).code).toBe(0)
    const sockets = new Set<Socket>()
    const silent = createServer((socket) => sockets.add(socket))
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done))
    try {
      const port = (silent.address() as AddressInfo).port
      const partitioned = {
        ...env,
        DATABASE_URL: url.replace(/@[^/]+\//, `@127.0.0.1:${port}/`),
        PGCONNECT_TIMEOUT: '1',
      }

      // When the on-call engineer rolls back
      const started = Date.now()
      const rollback = await bluegreen(['rollback', '--plan', e2ePlan, '--yes'], partitioned)

      // Then it waited about a second for the database, not minutes, and production is on blue
      expect(rollback.code).toBe(0)
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(sockets.size).toBeGreaterThan(0)
      expect(rollback.stdout).toContain('no answer within 1 s')
      expect(rollback.stdout).toContain('journal entry pending')
      expect(await productionPool(stack)).toBe('blue')
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((done) => silent.close(done))
    }
  })
})

describe('rollback journal written by the next command that reaches the database', () => {
  it('writes the spooled rollback with its original time', async () => {
    // Given a release, and a rollback made while the database refused connections
    const { url, env, stack } = await ownStack()
    expect((await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], env)).code).toBe(0)
    const unreachable = { ...env, DATABASE_URL: url.replace(/:(\d+)\//, ':1/') }
    const rollback = await bluegreen(['rollback', '--plan', e2ePlan, '--yes'], unreachable)
    expect(rollback.code).toBe(0)
    expect(await productionPool(stack)).toBe('blue')

    // When the next command reaches the database
    const status = await bluegreen(['status', e2ePlan, '--json'], env)
    expect(status.code).toBe(0)

    // Then the journal has the rollback, and the release is marked rolled back
    const audit = await sql<{ action: string }>(
      url,
      `SELECT action FROM bluegreen.audit WHERE action = 'rollback'`,
    )
    expect(audit).toHaveLength(1)
    const releases = await sql<{ status: string }>(url, 'SELECT status FROM bluegreen.releases')
    expect(releases.map((r) => r.status)).toEqual(['rolled_back'])

    // And history lists the rollback: from where to where, by whom, and that it switched
    const history = await bluegreen(['history', e2ePlan], env)
    expect(history.code, history.stderr).toBe(0)
    expect(history.stdout).toContain('rollbacks, newest first:')
    expect(history.stdout).toMatch(/green → blue {2}manual, by \S+, switched in \d+ ms {2}requested/)
  })
})

describe('rollback with a partitioned database and no PGCONNECT_TIMEOUT', () => {
  it('gives the database its --journal-timeout (1 s), not the 10 s connect timeout, and decides from what it last read', async () => {
    // Given 3.0.0 live on blue and 2.0.0 the standby on green, as this machine last read them
    const { url, env, stack } = await ownStack()
    expect((await bluegreen(['release', e2ePlan, '--version', '2.0.0', '--yes'], env)).code).toBe(0)
    expect((await bluegreen(['release', e2ePlan, '--version', '3.0.0', '--yes'], env)).code).toBe(0)
    // And a 4.0.0 whose smoke test failed: its deploy replaced green, the standby, with the failed build
    expect(
      (
        await bluegreen(['release', e2ePlan, '--version', '4.0.0', '--yes'], {
          ...env,
          E2E_SMOKE_PREFIX: 'not-',
        })
      ).code,
    ).toBe(1)
    const sockets = new Set<Socket>()
    const silent = createServer((socket) => sockets.add(socket))
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done))
    try {
      const port = (silent.address() as AddressInfo).port
      const partitioned = { ...env, DATABASE_URL: url.replace(/@[^/]+\//, `@127.0.0.1:${port}/`) }
      // When the database is partitioned and the on-call engineer rolls back
      const refused = await bluegreen(['rollback', '--plan', e2ePlan, '--yes'], partitioned)
      // Then it gave up on the database after its 1 s budget, and still refused the failed build
      expect(refused.stdout + refused.stderr).toContain('no answer within 1 s')
      expect(refused.code).toBe(5)
      expect(refused.stderr).toContain('NO_ROLLBACK_TARGET')
      expect(await productionPool(stack)).toBe('blue')
      // And --journal-timeout changes the budget (a flag, and BLUEGREEN_JOURNAL_TIMEOUT)
      const quick = await bluegreen(['rollback', '--plan', e2ePlan, '--yes', '--force'], {
        ...partitioned,
        BLUEGREEN_JOURNAL_TIMEOUT: '300ms',
      })
      expect(quick.stdout + quick.stderr).toContain('no answer within 0.3 s')
      expect(quick.code, quick.stderr).toBe(0)
      expect(await productionPool(stack)).toBe('green')
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((done) => silent.close(done))
    }
  })
})

describe('unlock --force', () => {
  it('clears the lock of a hung release and records who did it', async () => {
    // Given a release hung in its deploy step (stopped with SIGSTOP: its lock session stays open)
    const { url, env } = await ownStack()
    const hung = startProcess(
      process.execPath,
      [join(repoRoot, 'bin/run.js'), 'release', e2ePlan, '--version', '2.0.0', '--yes'],
      {
        cwd: repoRoot,
        env: { ...process.env, ...env, BLUEGREEN_FAILPOINT: 'none' },
      },
    )
    await waitFor(() => hung.output().includes('[3/8 deploy]'), 30_000, 'the release to reach deploy')
    process.kill(hung.pid, 'SIGSTOP')
    try {
      // When another release starts, it is refused at once with exit 4
      const second = await bluegreen(['release', e2ePlan, '--version', '3.0.0', '--yes'], env)
      expect(second.code).toBe(4)
      expect(second.stderr).toContain(`pid ${hung.pid}`)

      // When an operator clears the lock, it is refused while its holder still runs on this host
      const refused = await bluegreen(['unlock', e2ePlan, '--force'], env)
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain(`pid ${hung.pid}`)
      expect(refused.stderr).toContain('--kill')
      // And with --kill the holder is stopped first, then its lock cleared
      const unlock = await bluegreen(['unlock', e2ePlan, '--force', '--kill'], env, { timeoutMs: 30_000 })
      expect(unlock.code, unlock.stderr).toBe(0)
      expect(unlock.stdout).toContain(`pid ${hung.pid}`)
      expect(isProcessRunning(hung.pid)).toBe(false)

      // Then the audit log says so, and the unfinished release can be resumed by someone else
      const audit = await sql<{ action: string; detail: string }>(
        url,
        `SELECT action, detail FROM bluegreen.audit WHERE action = 'unlock.force'`,
      )
      expect(audit[0]?.detail).toContain(`pid ${hung.pid}`)
      const resumed = await bluegreen(['release', e2ePlan, '--resume', '--yes'], env)
      expect(resumed.stderr).toBe('')
      expect(resumed.code).toBe(0)
    } finally {
      if (isProcessRunning(hung.pid)) process.kill(hung.pid, 'SIGCONT')
      await hung.stop()
    }
  })
})
