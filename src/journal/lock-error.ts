import { BluegreenError } from '../errors.js'
import type { LockHolder } from './journal.js'

function describeHolder(holder: LockHolder): string {
  return `${holder.holder} (pid ${holder.pid} on ${holder.host}, \`${holder.command}\`) since ${holder.since}`
}

/** The error a second command gets at once: who holds the lock, since when, and what to do. */
export function lockedError(
  app: string,
  holder: LockHolder | undefined,
  lostButRunning = false,
): BluegreenError {
  if (holder && lostButRunning) {
    return new BluegreenError({
      code: 'LOCKED',
      message: `the release lock of ${app} is free, but its last holder still runs: ${describeHolder(holder)}; its lock's database session was cut`,
      hint: `that command stops at its next step without touching anything; wait for it to exit (or stop it: kill ${holder.pid}), then run this again`,
    })
  }
  return new BluegreenError({
    code: 'LOCKED',
    message: `another bluegreen command holds the release lock of ${app}: ${holder ? describeHolder(holder) : 'another process'}`,
    hint: 'wait for it to finish (or pass --wait-lock); if that process is gone, `bluegreen unlock PLAN --force` clears the lock (audited)',
  })
}

/** A holder that finds its lock gone stops and says who has it now. */
export function lockLostError(app: string, why: string, now: LockHolder | undefined): BluegreenError {
  return new BluegreenError({
    code: 'LOCK_LOST',
    message: `lost the release lock of ${app} (${why}); stopped without touching anything more${now ? `. The lock is now held by ${describeHolder(now)}` : ''}`,
    hint: now
      ? 'let that command finish; then `bluegreen status` shows where production is, and `bluegreen release PLAN --resume` continues this release if it is still wanted'
      : 'run `bluegreen status` to see where production is; `bluegreen release PLAN --resume` continues this release',
  })
}
