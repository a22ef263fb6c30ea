/**
 * Runs a plan command (deploy, exec): argv by default, a shell only when the plan says
 * `shell: true`. The command gets a process group of its own so that a timeout or Ctrl-C
 * stops it *and everything it started* (a deploy script's ssh, kubectl, sleep …).
 */
import { spawn } from 'node:child_process'
import { BluegreenError, type ErrorCode } from '../errors.js'
import { formatDuration } from '../format/duration.js'

export interface RunCommandOptions {
  command: string[] | string
  shell: boolean
  cwd: string
  env: Record<string, string>
  timeoutMs: number
  signal: AbortSignal
  onLine: (stream: 'stdout' | 'stderr', line: string) => void
  /** Error code on failure or timeout, e.g. DEPLOY_FAILED. */
  failCode: ErrorCode
  timeoutCode: ErrorCode
  what: string
}

/** Grace between SIGTERM and SIGKILL when stopping a command's process group. */
const killGraceMs = 2000

export async function runCommand(options: RunCommandOptions): Promise<{ ms: number; tail: string[] }> {
  const [file, args] = commandLine(options.command, options.shell, options.what)
  const started = Date.now()
  const tail: string[] = []
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const remember = (stream: 'stdout' | 'stderr') => {
    let partial = ''
    return (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        tail.push(line)
        if (tail.length > 20) tail.shift()
        options.onLine(stream, line)
      }
    }
  }
  child.stdout.on('data', remember('stdout'))
  child.stderr.on('data', remember('stderr'))

  let stoppedBy: 'timeout' | 'signal' | undefined
  const stop = (reason: 'timeout' | 'signal') => {
    if (stoppedBy || child.exitCode !== null) return
    stoppedBy = reason
    killGroup(child.pid, 'SIGTERM')
    setTimeout(() => killGroup(child.pid, 'SIGKILL'), killGraceMs).unref()
  }
  const timer = setTimeout(() => stop('timeout'), options.timeoutMs)
  const onAbort = () => stop('signal')
  options.signal.addEventListener('abort', onAbort, { once: true })

  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }))
      child.once('close', (code, signal) => resolve({ code, signal }))
    },
  )
  clearTimeout(timer)
  options.signal.removeEventListener('abort', onAbort)
  // Children that outlived the command (a backgrounded process) go with it.
  if (stoppedBy) killGroup(child.pid, 'SIGKILL')
  const ms = Date.now() - started

  if (result.error) {
    throw new BluegreenError({
      code: options.failCode,
      message: `${options.what}: cannot start \`${file}\`: ${result.error.message}`,
      hint: 'check the command in the plan: it must be an executable on PATH or a path relative to the plan file',
    })
  }
  if (stoppedBy === 'timeout') {
    throw new BluegreenError({
      code: options.timeoutCode,
      message: `${options.what} did not finish within ${formatDuration(options.timeoutMs)} and was stopped with its children`,
      details: tail.slice(-5),
      hint: 'raise `timeout` in the plan if it needs longer, or find out why it hangs',
    })
  }
  if (stoppedBy === 'signal') {
    throw new BluegreenError({
      code: 'INTERRUPTED',
      message: `${options.what} was interrupted`,
      hint: 'resume with `bluegreen release PLAN --resume`',
    })
  }
  if (result.code !== 0) {
    throw new BluegreenError({
      code: options.failCode,
      message: `${options.what} failed with exit code ${result.code ?? result.signal}`,
      details: tail.slice(-10),
      hint: 'its last 10 lines of output are in the details; fix the cause and run the release again (finished steps are skipped)',
    })
  }
  return { ms, tail }
}

function commandLine(command: string[] | string, shell: boolean, what: string): [string, string[]] {
  if (shell) return ['/bin/sh', ['-c', Array.isArray(command) ? command.join(' ') : command]]
  if (typeof command === 'string') {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `${what}: \`run\` is a string but \`shell\` is not true`,
      hint: 'write the command as an argv array (run: ["./deploy.sh", "{{pool}}"]) or add `shell: true`',
    })
  }
  const [file, ...args] = command
  return [file, args]
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is gone.
  }
}
