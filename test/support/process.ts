/**
 * Processes started by tests are stopped by the tests, by PID. Each process runs in its own
 * process group so that stopping it also stops whatever it spawned.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { existsSync } from 'node:fs'

export interface Started {
  pid: number
  child: ChildProcess
  /** Everything the process wrote so far, stdout and stderr interleaved. */
  output(): string
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGTERM to the process group, then SIGKILL after `graceMs`. Resolves when it is gone. */
  stop(graceMs?: number): Promise<void>
}

const running = new Set<Started>()

export function startProcess(command: string, args: string[], options: SpawnOptions = {}): Started {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options })
  if (child.pid === undefined) throw new Error(`could not start ${command}`)
  const pid = child.pid
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const started: Started = {
    pid,
    child,
    output: () => output,
    exited,
    async stop(graceMs = 3000) {
      running.delete(started)
      if (child.exitCode !== null || child.signalCode !== null) return
      killGroup(pid, 'SIGTERM')
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
      // Children that ignored SIGTERM and outlived their parent.
      killGroup(pid, 'SIGKILL')
    },
  }
  running.add(started)
  return started
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // Already gone.
    }
  }
}

/** Stops every process this test file started and has not stopped yet. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()))
}

export { freePort } from '../../src/local/ports.js'

/** Polls `probe` until it returns true, or throws after `timeoutMs`. */
export async function waitFor(
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await probe()) return
    } catch {
      // Not yet.
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const searchPath = (process.env.PATH ?? '')
  .split(':')
  .concat(['/usr/sbin', '/sbin', '/usr/lib/postgresql/15/bin'])

/** Absolute path of a binary, or undefined. */
export function findBinary(name: string, extraDirs: string[] = []): string | undefined {
  for (const dir of [...extraDirs, ...searchPath]) {
    const candidate = `${dir}/${name}`
    if (dir && existsSync(candidate)) return candidate
  }
  return undefined
}

/**
 * Whether a test that needs `name` can run. Under CI=true a missing binary is a failure
 * (throws); elsewhere the test is skipped with a printed reason.
 */
export function haveBinary(name: string, extraDirs: string[] = []): boolean {
  if (findBinary(name, extraDirs)) return true
  const reason = `${name} is not installed (run .ci/run, or apt-get install it)`
  if (process.env.CI === 'true') throw new Error(`${reason}; CI requires it`)
  console.warn(`skipping: ${reason}`)
  return false
}
