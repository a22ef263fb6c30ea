/**
 * What a webhook is told: one value per event, the same for every format. The slack and json
 * formatters read it; nothing in it is specific to a receiver.
 */
import type { NotifyEvent } from './schema.js'

export interface Notification {
  event: NotifyEvent
  app: string
  /** ISO time of the event. */
  at: string
  /**
   * The version that is (or, for release.started and approval.waiting, is about to be) live after
   * the event; for rollback, the version rolled back to; for contract.*, the release whose
   * contract it is.
   */
  version?: string
  /** The version live before the event: what a release replaces, what a rollback leaves. */
  fromVersion?: string
  /** The pool that serves (or will serve) `version`. */
  pool?: string
  /** The pool that served `fromVersion`. */
  fromPool?: string
  /** Why: the failure of a failed release, the cause of a rollback, what a contract waits for. */
  reason?: string
  /** rollback: true when bluegreen rolled back by itself (a failed verify), false when a person did. */
  automatic?: boolean
  releaseId?: string
  /** Who started, approved or ran it; for lock.stale, who holds the lock. */
  by?: string
  /** contract.*: the migration files concerned. */
  files?: string[]
  /** contract.due/overdue: due since; approval.waiting: waiting since; lock.stale: held since (ISO). */
  since?: string
}

/** One line that says what happened, for a Slack header, a fallback text or a log line. */
export function headline(n: Notification): string {
  const version = n.version ?? 'a new version'
  switch (n.event) {
    case 'release.started':
      return `${n.app}: releasing ${version}`
    case 'release.done':
      return `${n.app}: ${version} is live`
    case 'release.failed':
      return `${n.app}: release of ${version} failed`
    case 'rollback':
      return `${n.app}: ${n.automatic ? 'rolled back automatically' : 'rolled back'}${n.version ? ` to ${n.version}` : ''}`
    case 'approval.waiting':
      return `${n.app}: ${version} waits for approval`
    case 'contract.due':
      return `${n.app}: contract of ${n.version ?? 'a release'} is due`
    case 'contract.overdue':
      return `${n.app}: contract of ${n.version ?? 'a release'} is overdue`
    case 'contract.applied':
      return `${n.app}: contract of ${n.version ?? 'a release'} applied`
    case 'lock.stale':
      return `${n.app}: the release lock looks stale`
  }
}
