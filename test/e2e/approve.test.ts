/**
 * Approval gates through the built CLI, on the file journal with the local ELBv2 emulator and
 * the demo app's pools (the model's stack): a gated release stops (exit 6) and shows as
 * awaiting approval, continues on `approve` or `release --resume --approve`, keeps a partial
 * switch split while it waits, and an expired gate rolls back or abandons as configured.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StatusReport } from '../../src/engine/status.js'
import { startStack, type Stack } from '../model/drivers.js'
import { repoRoot, runCli } from '../support/cli.js'

const beforeSwitch = join(repoRoot, 'test/fixtures/approve/gate-before-switch.yaml')
const afterPartialSwitch = join(repoRoot, 'test/fixtures/approve/gate-after-partial-switch.yaml')

let stack: Stack
let apps = 0

beforeAll(async () => {
  stack = await startStack('file')
}, 120_000)
afterAll(async () => {
  await stack?.close()
})

interface History {
  releases: { status: string; version: string; error?: string }[]
  rollbacks: { automatic: boolean; reason: string }[]
  events: { action: string; actor: string; detail: string }[]
}

/** A fresh app on both pools' 1.0.0, blue live; commands on `plan` with its environment. */
async function given(plan: string, extra: Record<string, string> = {}) {
  const app = `gate${++apps}`
  const world = await stack.world(app, 'cli')
  const env = { ...stack.env(app), BLUEGREEN_ACTOR: 'alice', ...extra }
  const cli = (args: string[], more: Record<string, string> = {}) =>
    runCli(args, { env: { ...env, ...more }, timeoutMs: 60_000 })
  const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1)!) as T
  return {
    world,
    cli,
    release: (version: string) =>
      cli(['release', plan, '--version', version, '--live-version', '1.0.0', '--yes', '--json']),
    async status(): Promise<StatusReport> {
      const result = await cli(['status', plan, '--json'])
      expect(result.code, result.stderr).toBe(0)
      return lastJson<StatusReport>(result.stdout)
    },
    async history(): Promise<History> {
      const result = await cli(['history', plan, '--json'])
      expect(result.code, result.stderr).toBe(0)
      return lastJson<History>(result.stdout)
    },
  }
}

function events(stdout: string): { type: string; [key: string]: unknown }[] {
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { type: string })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until just past the deadline the waiting release announced. */
async function pastDeadline(stdout: string): Promise<void> {
  const deadline = events(stdout).find((e) => e.type === 'approval.waiting')?.deadline as string
  await sleep(Math.max(0, Date.parse(deadline) - Date.now()) + 200)
}

describe('an approve gate', () => {
  it('stops the release (exit 6), shows it awaiting approval, and `approve` continues it to done', async () => {
    // Given a plan with a gate between the deploy and the switch
    const t = await given(beforeSwitch)

    // When the release reaches it
    const waiting = await t.release('2.0.0')

    // Then it exits 6, says so in NDJSON with the deadline, and nothing switched
    expect(waiting.code, waiting.stderr).toBe(6)
    const said = events(waiting.stdout)
    const event = said.find((e) => e.type === 'approval.waiting')
    expect(event).toMatchObject({
      type: 'approval.waiting',
      index: 1,
      version: '2.0.0',
      onTimeout: 'rollback',
    })
    expect(Date.parse(event!.deadline as string) - Date.parse(event!.since as string)).toBe(3_600_000)
    expect(said.some((e) => e.type === 'step.fail')).toBe(false)
    expect(await t.world.production()).toBe('blue')
    const status = await t.status()
    expect(status.unfinished?.state).toBe('awaiting approval')
    expect(status.unfinished?.step).toMatchObject({ index: 1, kind: 'approve', status: 'started' })
    expect(status.unfinished?.approval?.deadline).toBe(event!.deadline)
    const text = await t.cli(['status', beforeSwitch])
    expect(text.stdout).toContain('release 2.0.0 is awaiting approval at step 2/5 (approve)')
    expect(text.stdout).toContain(`bluegreen approve ${beforeSwitch}`)

    // And a second release cannot start over it
    const second = await t.release('3.0.0')
    expect(second.code).toBe(4)

    // When bob approves (the process that waited is long gone: its state is in the journal)
    const approved = await t.cli(['approve', beforeSwitch, '--json'], { BLUEGREEN_ACTOR: 'bob' })

    // Then the release finishes on green, and the audit log says who approved
    expect(approved.code, approved.stderr + approved.stdout).toBe(0)
    expect(await t.world.production()).toBe('green')
    const after = await t.status()
    expect(after.unfinished).toBeUndefined()
    expect(after.lastRelease).toMatchObject({ version: '2.0.0', status: 'done' })
    const history = await t.history()
    const approval = history.events.find((e) => e.action === 'approve')
    expect(approval).toMatchObject({ actor: 'bob' })
    expect(history.events.find((e) => e.action === 'approval.waiting')).toMatchObject({ actor: 'alice' })

    // And approving again finds nothing to approve
    const again = await t.cli(['approve', beforeSwitch])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('NOTHING_TO_RESUME')
  }, 120_000)

  it('survives a SIGKILL of the process that reached it, and `release --resume --approve` continues', async () => {
    const t = await given(beforeSwitch)
    const { spawn } = await import('node:child_process')
    // Given a release killed the moment it says it waits (before it could exit by itself)
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'bin/run.js'),
        'release',
        beforeSwitch,
        '--version',
        '2.1.0',
        '--live-version',
        '1.0.0',
        '--yes',
        '--json',
      ],
      {
        env: { ...process.env, ...stack.env(`gate${apps}`), BLUEGREEN_ACTOR: 'alice' },
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    )
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('"approval.waiting"')) child.kill('SIGKILL')
    })
    const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    )
    expect(out).toContain('"approval.waiting"')
    // Killed, or it had already exited 6: either way the journal holds the gate.
    expect(exit.signal === 'SIGKILL' || exit.code === 6).toBe(true)
    expect((await t.status()).unfinished?.state).toBe('awaiting approval')

    // When it is resumed without approval, it stops at the gate again (the deadline stands)
    const before = (await t.status()).unfinished?.approval?.deadline
    const resumed = await t.cli(['release', beforeSwitch, '--resume', '--yes'])
    expect(resumed.code).toBe(6)
    expect((await t.status()).unfinished?.approval?.deadline).toBe(before)

    // When it is resumed with --approve
    const approved = await t.cli(['release', beforeSwitch, '--resume', '--approve', '--yes'])

    // Then it is done on green
    expect(approved.code, approved.stderr).toBe(0)
    expect(await t.world.production()).toBe('green')
    expect((await t.status()).lastRelease).toMatchObject({ version: '2.1.0', status: 'done' })
    expect((await t.history()).events.filter((e) => e.action === 'approve')).toHaveLength(1)
  }, 120_000)

  it('after a partial switch keeps that split while it waits', async () => {
    // Given a plan that sends 10% to the new pool, then waits for approval
    const t = await given(afterPartialSwitch)

    // When the release reaches the gate
    const waiting = await t.release('2.2.0')

    // Then it waits with 10% on green, and a status (which reads the gate) changes nothing
    expect(waiting.code, waiting.stderr).toBe(6)
    for (let i = 0; i < 2; i++) {
      const status = await t.status()
      expect(status.traffic.weights).toEqual({ blue: 90, green: 10 })
      expect(status.unfinished?.state).toBe('awaiting approval')
      await sleep(300)
    }

    // When it is approved, the second switch sends everything to green
    const approved = await t.cli(['approve', afterPartialSwitch])
    expect(approved.code, approved.stderr).toBe(0)
    expect((await t.status()).traffic.weights).toEqual({ blue: 0, green: 100 })
  }, 120_000)

  it('rolls back when it times out with onTimeout rollback: status applies it', async () => {
    // Given a gate after 10% that nobody approves within 4 s
    const t = await given(afterPartialSwitch, { APPROVE_TIMEOUT: '4s', APPROVE_ON_TIMEOUT: 'rollback' })
    const waiting = await t.release('2.3.0')
    expect(waiting.code).toBe(6)
    expect((await t.status()).traffic.weights).toEqual({ blue: 90, green: 10 })

    // When the next command (status) sees it expired
    await pastDeadline(waiting.stdout)
    const status = await t.status()

    // Then traffic went back to blue, the release is rolled back, and history says why
    expect(status.traffic.weights).toEqual({ blue: 100, green: 0 })
    expect(status.unfinished).toBeUndefined()
    expect(status.lastRelease).toMatchObject({
      version: '2.3.0',
      status: 'rolled_back',
      rollback: 'automatic',
    })
    expect(await t.world.production()).toBe('blue')
    const history = await t.history()
    expect(history.rollbacks[0]?.reason).toContain('approval timed out')
    expect(history.events.some((e) => e.action === 'approval.timeout')).toBe(true)

    // And a late approval is refused: nothing waits any more
    expect((await t.cli(['approve', afterPartialSwitch])).code).toBe(2)
  }, 120_000)

  it('abandons when it times out with onTimeout abandon before traffic moved: approve --check applies it, exit 0', async () => {
    // Given a gate before the switch that nobody approves within 4 s
    const t = await given(beforeSwitch, { APPROVE_TIMEOUT: '4s', APPROVE_ON_TIMEOUT: 'abandon' })
    const waiting = await t.release('2.4.0')
    expect(waiting.code).toBe(6)
    const early = await t.cli(['approve', beforeSwitch, '--check'])
    expect(early.code).toBe(0)
    expect(early.stdout).toContain('waits for approval until')
    expect((await t.status()).unfinished?.state).toBe('awaiting approval')

    // When cron's check runs after the deadline
    await pastDeadline(waiting.stdout)
    const check = await t.cli(['approve', beforeSwitch, '--check', '--json'])

    // Then it exits 0, the release is failed (not rolled back), and traffic was never touched
    expect(check.code, check.stderr).toBe(0)
    expect(JSON.parse(check.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      action: 'timed out',
      exitCode: 1,
    })
    const status = await t.status()
    expect(status.unfinished).toBeUndefined()
    expect(status.lastRelease).toMatchObject({ version: '2.4.0', status: 'failed', reachedUsers: false })
    expect(status.traffic.weights).toEqual({ blue: 100, green: 0 })
    const history = await t.history()
    expect(history.rollbacks).toHaveLength(0)
    expect(history.events.find((e) => e.action === 'approval.timeout')?.detail).toContain('onTimeout abandon')
  }, 120_000)

  it('with onTimeout rollback before traffic moved closes the release as rolled back, on a late approve (exit 1)', async () => {
    const t = await given(beforeSwitch, { APPROVE_TIMEOUT: '4s', APPROVE_ON_TIMEOUT: 'rollback' })
    const waiting = await t.release('2.6.0')
    expect(waiting.code).toBe(6)
    await pastDeadline(waiting.stdout)

    // When someone approves too late
    const late = await t.cli(['approve', beforeSwitch])

    // Then the timeout acts instead: closed as rolled back, nothing switched, no approval recorded
    expect(late.code, late.stderr).toBe(1)
    expect(late.stderr).toContain('approval timed out')
    const status = await t.status()
    expect(status.lastRelease).toMatchObject({ version: '2.6.0', status: 'rolled_back', reachedUsers: false })
    expect(status.traffic.weights).toEqual({ blue: 100, green: 0 })
    const history = await t.history()
    expect(history.events.some((e) => e.action === 'approve')).toBe(false)
    expect(history.rollbacks).toHaveLength(0)
  }, 120_000)

  it('with onTimeout abandon after traffic moved acts as rollback, on release --resume (exit 3)', async () => {
    const t = await given(afterPartialSwitch, { APPROVE_TIMEOUT: '4s', APPROVE_ON_TIMEOUT: 'abandon' })
    const waiting = await t.release('2.5.0')
    expect(waiting.code).toBe(6)
    await pastDeadline(waiting.stdout)

    const resumed = await t.cli(['release', afterPartialSwitch, '--resume', '--yes'])

    expect(resumed.code, resumed.stderr).toBe(3)
    expect(resumed.stderr).toContain('onTimeout abandon acts as rollback')
    const status = await t.status()
    expect(status.traffic.weights).toEqual({ blue: 100, green: 0 })
    expect(status.lastRelease).toMatchObject({ version: '2.5.0', status: 'rolled_back' })
  }, 120_000)
})

describe('the gate state in PostgreSQL', () => {
  it('keeps audit entries tied to a release and its step, and reads them back oldest first', async () => {
    const { withPostgresJournal } = await import('../../src/journal/postgres.js')
    await withPostgresJournal(stack.databaseUrl, async (journal) => {
      // Given a release and audit entries for two of its steps, and one of another app
      const app = `pg-gate-${Date.now()}`
      const release = await journal.startRelease({
        app,
        version: '2.0.0',
        planHash: 'h',
        from: 'blue',
        to: 'green',
      })
      await journal.audit({
        app,
        action: 'approval.waiting',
        actor: 'alice',
        detail: 'waits',
        releaseId: release.id,
        step: 2,
      })
      await journal.audit({
        app,
        action: 'approve',
        actor: 'bob',
        detail: 'ok',
        releaseId: release.id,
        step: 2,
      })
      await journal.audit({ app, action: 'retire', actor: 'carol', detail: 'not of the release' })

      // When they are read back for the release
      const entries = await journal.releaseAudit(release.id)

      // Then exactly its two entries come back, in order, with the step
      expect(entries.map((e) => [e.action, e.actor, e.step, e.releaseId])).toEqual([
        ['approval.waiting', 'alice', 2, release.id],
        ['approve', 'bob', 2, release.id],
      ])
      await journal.finishRelease(release.id, { status: 'failed', error: 'test over' })
    })
  })
})
