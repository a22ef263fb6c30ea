import { hostname } from 'node:os'
import { readFileSync } from 'node:fs'
import { isProcessRunning } from '../process-alive.js'
import { currentHolder, type LockHolder } from './journal.js'

export function currentHolderFor(ctx: { actor: string; command: string }): LockHolder {
  return { ...currentHolder(ctx.command), holder: ctx.actor }
}

/**
 * Whether `previous` is another process on this host that is still running as bluegreen (a pid
 * that was reused by something else since does not count). Other hosts cannot be checked here.
 */
export function holderStillRunning(previous: LockHolder, me: Pick<LockHolder, 'host' | 'pid'>): boolean {
  if (previous.host !== me.host || previous.pid === me.pid || !isProcessRunning(previous.pid)) return false
  try {
    const commandLine = readFileSync(`/proc/${previous.pid}/cmdline`, 'utf8')
    return /node|bluegreen/.test(commandLine)
  } catch {
    // No /proc (macOS): trust the pid.
    return true
  }
}

/** A holder known to be gone: its process on this host has exited (other hosts cannot be checked). */
export function holderIsGone(holder: Pick<LockHolder, 'host' | 'pid'>): boolean {
  return holder.host === hostname() && !isProcessRunning(holder.pid)
}
