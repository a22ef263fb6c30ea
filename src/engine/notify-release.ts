/** The release events the webhooks hear (release.started, release.done, release.failed). */
import type { ReleaseRecord } from '../journal/journal.js'
import type { EngineContext } from './context.js'

/** Tells the webhooks about the release, in the background: never on the release's critical path. */
export function notifyRelease(
  ctx: EngineContext,
  record: ReleaseRecord,
  event: 'release.started' | 'release.done' | 'release.failed',
  extra: { by?: string; reason?: string },
): void {
  ctx.notifier?.notifyInBackground({
    event,
    app: ctx.plan.app,
    at: new Date().toISOString(),
    version: record.version,
    pool: record.to,
    fromPool: record.from,
    releaseId: record.id,
    ...extra,
  })
}
