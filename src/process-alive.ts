import { readFileSync } from 'node:fs'

/**
 * Whether a process runs: it exists (signal 0 reaches it, or is refused for lack of permission)
 * and is not a zombie waiting to be reaped (a zombie runs nothing, and a server started by
 * pg_ctl is reaped by init, not by us).
 */
export function isProcessRunning(pid: number): boolean {
  if (pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat[stat.lastIndexOf(')') + 2] !== 'Z'
  } catch {
    // No /proc (macOS): the signal reached it, so it runs.
    return true
  }
}
