/**
 * What a failed step means, decided in one place (the release's outcome table, README "Exit
 * codes"): from the error, whether traffic had reached the new pool (computed once, before the
 * decision), the phase's rollback role, and the automatic rollback's own result.
 *
 * | error                       | traffic moved | what happens                         | exit |
 * |-----------------------------|---------------|--------------------------------------|------|
 * | LOCK_LOST                   | any           | stop, touch nothing, unfinished      | 4    |
 * | AWAITING_APPROVAL           | any           | stop, step left started, unfinished  | 6    |
 * | INTERRUPTED, journal lost   | before        | stop, unfinished (--resume)          | 1    |
 * | INTERRUPTED, journal lost   | after/unknown | stop, unfinished (--resume/rollback) | 5    |
 * | any other                   | unknown       | failed; cannot tell where traffic is | 5    |
 * | any other                   | before        | failed; production untouched         | 1 (2 for plan errors) |
 * | phase without rollback role | after         | failed; the new pool stays live      | 5    |
 * | phase with rollback role    | after         | switch back automatically            | 3, or 5 if that fails |
 */
import { BluegreenError, ExitCode, type ErrorCode, type ExitCodeValue } from '../errors.js'
import type { PoolName } from '../lb/types.js'

export type Moved = 'before' | 'after' | 'unknown'

export interface FailureFacts {
  error: BluegreenError
  moved: Moved
  /** Whether the failed phase switches back when it fails after traffic moved (phase.rollbackOnFailure). */
  rollbackOnFailure: boolean
  version: string
  from: PoolName
  to: PoolName
  /** e.g. "blue 50% / green 50%", when the load balancer could be read. */
  traffic?: string
}

export type FailurePlan =
  /** Leave the release unfinished (resumable); nothing else is written. */
  | { action: 'stop'; error: BluegreenError; journal: boolean }
  /** Record the release as failed; `promote`: the new pool served and stays live. */
  | { action: 'fail'; error: BluegreenError; promote: boolean }
  /** Switch back to `from`, then finish with `rolledBack` or `rollbackFailed`. */
  | {
      action: 'switch back'
      rolledBack: () => BluegreenError
      rollbackFailed: (why: string) => BluegreenError
    }

const resumeOrRollback =
  'continue it with `bluegreen release PLAN --resume`, or switch back with `bluegreen rollback --plan PLAN`'

export function decideFailure(facts: FailureFacts): FailurePlan {
  const { error, moved, version, from, to } = facts
  const where = facts.traffic ? ` (${facts.traffic})` : ''
  const exitAs = (code: ErrorCode, exitCode: ExitCodeValue, message: string, hint?: string) =>
    new BluegreenError({ code, exitCode, message, hint, details: error.details, cause: error })

  if (error.code === 'LOCK_LOST') return { action: 'stop', error, journal: false }
  // An approve step waits: not a failure; traffic stays as it is (a partial switch stays split).
  if (error.code === 'AWAITING_APPROVAL') return { action: 'stop', error, journal: false }
  if (error.code === 'INTERRUPTED' || error.code === 'DATABASE_UNREACHABLE') {
    const interrupted = error.code === 'INTERRUPTED'
    const what = interrupted ? 'was interrupted' : `stopped: ${error.message}`
    if (moved === 'before')
      return {
        action: 'stop',
        journal: interrupted,
        error: exitAs(
          error.code,
          ExitCode.failedBeforeSwitch,
          `release ${version} ${what}${where}; users never saw it`,
          interrupted
            ? `production is untouched (${from} is live): continue with \`bluegreen release PLAN --resume\`, or close it with \`bluegreen rollback --plan PLAN\` (nothing is switched)`
            : 'once the database is back, `bluegreen release PLAN --resume` continues from the first step not recorded as done (steps are idempotent)',
        ),
      }
    return {
      action: 'stop',
      journal: interrupted,
      error: exitAs(
        error.code,
        ExitCode.needsHuman,
        `release ${version} ${what}${where}, after traffic ${moved === 'after' ? `reached ${to}` : 'may have moved'}`,
        resumeOrRollback,
      ),
    }
  }
  if (moved === 'unknown')
    return {
      action: 'fail',
      promote: false,
      error: exitAs(
        'ROLLBACK_FAILED',
        ExitCode.needsHuman,
        `${error.message}; and the load balancer cannot be read to check where traffic goes`,
        'check the load balancer by hand; `bluegreen rollback --plan PLAN` switches back once it answers',
      ),
    }
  if (moved === 'before') {
    const keep = error.exitCode === ExitCode.failedBeforeSwitch || error.exitCode === ExitCode.usage
    return {
      action: 'fail',
      promote: false,
      error: keep ? error : exitAs(error.code, ExitCode.failedBeforeSwitch, error.message, error.hint),
    }
  }
  if (!facts.rollbackOnFailure)
    return {
      action: 'fail',
      promote: true,
      error: exitAs(
        error.code,
        ExitCode.needsHuman,
        `${error.message} (after the switch; ${to} stays live)`,
        error.hint ??
          'production runs the new version; fix the cause, then finish with `bluegreen contract PLAN`',
      ),
    }
  return {
    action: 'switch back',
    rolledBack: () =>
      exitAs(
        error.code === 'VERIFY_FAILED' ? 'VERIFY_FAILED' : 'ROLLED_BACK',
        ExitCode.rolledBack,
        `${error.message}; traffic was switched back to ${from}`,
        `production runs the previous version again; ${version} stays deployed on ${to} for inspection, and is not a rollback target`,
      ),
    rollbackFailed: (why) =>
      exitAs(
        'ROLLBACK_FAILED',
        ExitCode.needsHuman,
        `${error.message}; then the automatic rollback to ${from} failed too: ${why}`,
        `production may still send traffic to ${to}; run \`bluegreen rollback --plan PLAN\` or switch the load balancer by hand`,
      ),
  }
}
