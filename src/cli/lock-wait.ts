/**
 * `--wait-lock DURATION`: every `withLock` of the command's journal waits for a held lock up to
 * the duration instead of failing with LOCKED at once, and says who holds it and at which step
 * (when the holder changes, and every 15 s). A decorator, like redactingJournal, so the engine's
 * entry points (release, rollback, retire) and the contract command need no argument for it.
 */
import type { Emit } from '../events.js'
import type { Journal, LockHolder, LockOptions } from '../journal/journal.js'
import { BluegreenError } from '../errors.js'
import { formatDuration, parseDuration } from '../format/duration.js'

const reportEveryMs = 15_000
const stepGraceMs = 2_000

/** The --wait-lock flag's value in ms; undefined when not given. */
export function waitLockMs(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined
  try {
    return parseDuration(text)
  } catch {
    throw new BluegreenError({
      code: 'USAGE',
      message: `--wait-lock ${text} is not a duration`,
      hint: 'give it like 30s, 10m or 2h (or set BLUEGREEN_WAIT_LOCK)',
    })
  }
}

export function waitingForLock<J extends Journal>(journal: J, waitMs: number, emit: Emit): J {
  const withLock: Journal['withLock'] = (app, holder, fn, options) =>
    journal.withLock(app, holder, fn, { waitMs, onWait: reporter(journal, app, waitMs, emit), ...options })
  return new Proxy(journal, {
    get(target, property) {
      if (property === 'withLock') return withLock
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

function reporter(
  journal: Journal,
  app: string,
  waitMs: number,
  emit: Emit,
): NonNullable<LockOptions['onWait']> {
  const started = Date.now()
  let last: { key: string; at: number } | undefined
  let asking = false
  return (holder) => {
    const key = holder ? `${holder.host}:${holder.pid}:${holder.since}` : 'unknown'
    if (asking || (last && last.key === key && Date.now() - last.at < reportEveryMs)) return
    asking = true
    void currentStep(journal, app).then((step) => {
      asking = false
      // The holder records its release just after taking the lock: wait a moment to name its step.
      if (!step && Date.now() - started < stepGraceMs) return
      last = { key, at: Date.now() }
      const waited = formatDuration(Date.now() - started)
      emit({
        type: 'info',
        message: `waiting for the release lock of ${app} (${waited} of ${formatDuration(waitMs)}): held by ${describe(holder)}${step ? `, at ${step}` : ''}`,
      })
    })
  }
}

function describe(holder: LockHolder | undefined): string {
  if (!holder) return 'another process'
  return `${holder.holder} (pid ${holder.pid} on ${holder.host}, since ${holder.since}): ${holder.command}`
}

/** "step 3 deploy (2.0.0)" of the unfinished release, if the journal can tell. */
async function currentStep(journal: Journal, app: string): Promise<string | undefined> {
  try {
    const release = await journal.unfinishedRelease(app)
    if (!release) return undefined
    const steps = await journal.steps(release.id)
    const step = steps.filter((s) => s.status === 'started').pop() ?? steps[steps.length - 1]
    return `${step ? `step ${step.index + 1} ${step.kind}` : 'its start'} of release ${release.version}`
  } catch {
    return undefined
  }
}
