import * as z from 'zod'
import { BluegreenError } from '../errors.js'
import { formatDuration, parseDuration } from '../format/duration.js'
import { Duration } from '../format/parts.js'
import type { AuditEntry } from '../journal/journal.js'
import { definePhase } from './types.js'

const ApproveConfig = z
  .strictObject({
    timeout: Duration.default('24h').describe(
      'How long the release waits for `bluegreen approve` before onTimeout acts (default 24h)',
    ),
    onTimeout: z
      .enum(['rollback', 'abandon'])
      .default('rollback')
      .describe(
        'Unapproved in time: rollback switches back (or, before traffic moved, closes the release as rolled back); abandon closes it as failed without touching traffic (after traffic moved it acts as rollback)',
      ),
  })
  .describe('Stop the release until someone runs `bluegreen approve PLAN`')

export type ApproveConfig = z.output<typeof ApproveConfig>

/** What the journal says of one gate (one approve step of one release). */
export interface GateState {
  /** The `approve` audit entry: who approved, when. */
  approved?: AuditEntry
  /** When the release first stopped here (its `approval.waiting` entry), and when onTimeout acts. */
  since?: string
  deadline?: string
  expired: boolean
}

/** Reads a gate's state from the release's audit entries (Journal.releaseAudit). Pure. */
export function gateState(
  entries: readonly AuditEntry[],
  step: number,
  config: ApproveConfig,
  now = new Date(),
): GateState {
  const here = entries.filter((e) => e.step === step)
  const approved = here.find((e) => e.action === 'approve')
  const since = here.find((e) => e.action === 'approval.waiting')?.at
  if (!since) return { approved, expired: false }
  const deadline = new Date(Date.parse(since) + parseDuration(config.timeout)).toISOString()
  return { approved, since, deadline, expired: !approved && Date.parse(deadline) <= now.getTime() }
}

export function onTimeoutWords(config: ApproveConfig): string {
  return config.onTimeout === 'rollback' ? 'rolls back' : 'is abandoned'
}

export const approvePhase = definePhase({
  kind: 'approve',
  schema: ApproveConfig,
  touches: 'journal',
  rollbackOnFailure: true,
  describe(c) {
    return {
      target: 'journal',
      summary: `wait for \`bluegreen approve PLAN\` (timeout ${c.timeout}, then it ${onTimeoutWords(c)})`,
      details: [
        'the release stops here (exit 6) with traffic as it is; `bluegreen approve PLAN` or `release PLAN --resume --approve` continues it',
      ],
      durationMs: parseDuration(c.timeout),
    }
  },
  async run(ctx) {
    const { journal, release, config, index } = ctx
    const state = gateState(await journal.releaseAudit(release.id), index, config)
    if (state.approved) return `approved by ${state.approved.actor} at ${state.approved.at}`
    let since = state.since
    let deadline = state.deadline
    if (!since) {
      since = new Date().toISOString()
      deadline = new Date(Date.parse(since) + parseDuration(config.timeout)).toISOString()
      await journal.audit({
        app: release.app,
        action: 'approval.waiting',
        actor: ctx.actor,
        releaseId: release.id,
        step: index,
        at: since,
        detail: `${release.version} waits for approval at step ${index + 1} until ${deadline} (then it ${onTimeoutWords(config)})`,
      })
      // Told once, when the gate first stops the release (a resume that stops again stays quiet).
      ctx.notifier?.notifyInBackground({
        event: 'approval.waiting',
        app: release.app,
        at: since,
        version: release.version,
        pool: ctx.to,
        fromPool: ctx.from,
        releaseId: release.id,
        since,
        reason: `waits for \`bluegreen approve\` until ${deadline}; then it ${onTimeoutWords(config)}`,
      })
    }
    ctx.emit({
      type: 'approval.waiting',
      index,
      kind: 'approve',
      releaseId: release.id,
      version: release.version,
      since,
      deadline: deadline!,
      onTimeout: config.onTimeout,
    })
    throw new BluegreenError({
      code: 'AWAITING_APPROVAL',
      message: `release ${release.version} waits for approval at step ${index + 1} (approve) until ${deadline}`,
      hint: `approve it with \`bluegreen approve PLAN\` (or \`bluegreen release PLAN --resume --approve\`); unapproved after ${formatDuration(parseDuration(config.timeout))}, it ${onTimeoutWords(config)} — applied by the next bluegreen command, or by \`bluegreen approve PLAN --check\` from cron`,
    })
  },
})
