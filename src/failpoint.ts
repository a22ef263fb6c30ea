/**
 * Failpoints for the crash drills: when BLUEGREEN_FAILPOINT names this point, the process kills
 * itself with SIGKILL right here, as a power cut or an OOM kill would. Deterministic, so the
 * drill can walk every step boundary and the middle of every step instead of sampling by timing.
 * Points: `step:<i>:before` (nothing journaled), `step:<i>:started` (journaled as started),
 * `step:<i>:ran` (the work is done, not yet journaled as done), `switch:<weight>`,
 * `rollback:switched` (a rollback's load-balancer write is done, not yet journaled),
 * `nginx:written` (the upstream file is rewritten, nginx not yet reloaded).
 */
export function failpoint(name: string): void {
  if (process.env.BLUEGREEN_FAILPOINT === name) process.kill(process.pid, 'SIGKILL')
}
