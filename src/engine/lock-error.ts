import { BluegreenError } from '../errors.js'
import type { LockHolder } from './journal.js'

/** The error a second release gets at once: who holds the lock, since when, and what to do. */
export function lockedError(app: string, holder: LockHolder | undefined): BluegreenError {
  const who = holder
    ? `${holder.holder} (pid ${holder.pid} on ${holder.host}, \`${holder.command}\`) since ${holder.since}`
    : 'another process'
  return new BluegreenError({
    code: 'LOCKED',
    message: `another bluegreen command holds the release lock of ${app}: ${who}`,
    hint: 'wait for it to finish; if that process is gone, `bluegreen unlock PLAN --force` clears the lock (audited)',
  })
}
