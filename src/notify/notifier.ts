/**
 * Tells the plan's webhooks what happened. A notification is never worth a failed release or a
 * slower rollback, so nothing here throws and nothing here needs awaiting on a critical path:
 * - `notify(n)` sends to every webhook subscribed to `n.event` in parallel and resolves with a
 *   report once each has answered or given up (each attempt bounded, attempts bounded);
 * - `notifyInBackground(n)` starts the same and returns at once; `flush(maxMs)` waits for the
 *   sends still under way, at most `maxMs`, then abandons the rest, so a process can exit soon
 *   after its rollback without dropping the message that announces it.
 */
import { redactDeep } from '../redact.js'
import { loadUndici } from '../http/undici.js'
import { parseDuration } from '../format/duration.js'
import { fillPlaceholders } from '../format/placeholders.js'
import type { Notification } from './notification.js'
import type { Webhook } from './schema.js'
import { slackMessage } from './slack.js'
import { defaultRetryPolicy, deliver, FlushTimeout, type Delivery, type RetryPolicy } from './webhook.js'
import { registerWebhookSecrets, webhookLabel } from './webhook-url.js'

export interface NotifyReport {
  event: Notification['event']
  /** One per subscribed webhook, in the plan's order. */
  deliveries: Delivery[]
  /** One line per webhook that was not told, naming it by its label; empty when all were. */
  warnings: string[]
}

export interface FlushReport {
  /** Reports of the background notifications that finished since the last flush. */
  reports: NotifyReport[]
  warnings: string[]
  /** Background notifications still unsent when the wait ran out, given up. */
  abandoned: number
}

export interface NotifierOptions extends Partial<RetryPolicy> {
  /**
   * Called with each warning of a background notification as soon as it is known (say, to emit
   * it as an engine `warning` event). flush() returns the same warnings again in its report.
   */
  onWarning?: (message: string) => void
}

/** The body a webhook receives: a Slack message, or the notification itself as JSON. */
export function webhookBody(webhook: Pick<Webhook, 'format' | 'link'>, n: Notification): string {
  const link = webhook.link ? fillPlaceholders(webhook.link, { app: n.app, version: n.version }) : undefined
  if (webhook.format === 'slack') return JSON.stringify(slackMessage(n, link))
  return JSON.stringify(link ? { ...n, link } : n)
}

interface InFlight {
  done: Promise<void>
  controller: AbortController
}

export class Notifier {
  private readonly policy: RetryPolicy
  private readonly inFlight = new Set<InFlight>()
  private finished: NotifyReport[] = []

  constructor(
    private readonly webhooks: readonly Webhook[],
    private readonly options: NotifierOptions = {},
  ) {
    this.policy = {
      backoffMs: options.backoffMs ?? defaultRetryPolicy.backoffMs,
      maxBackoffMs: options.maxBackoffMs ?? defaultRetryPolicy.maxBackoffMs,
      maxRetryAfterMs: options.maxRetryAfterMs ?? defaultRetryPolicy.maxRetryAfterMs,
    }
    registerWebhookSecrets(webhooks)
  }

  /** Whether any webhook wants `event`: the caller may skip building a notification otherwise. */
  wants(event: Notification['event']): boolean {
    return this.webhooks.some((webhook) => webhook.events.includes(event))
  }

  /** Background notifications not yet finished. */
  get pending(): number {
    return this.inFlight.size
  }

  async notify(notification: Notification, signal?: AbortSignal): Promise<NotifyReport> {
    const event = notification.event
    const targets = this.webhooks.filter((webhook) => webhook.events.includes(event))
    if (targets.length === 0) return { event, deliveries: [], warnings: [] }
    try {
      // A reason can quote anything (a deploy script's output); the receivers see it redacted.
      const clean = redactDeep(notification)
      const { Agent } = await loadUndici()
      const agent = new Agent()
      try {
        const deliveries = await Promise.all(
          targets.map((webhook) =>
            deliver(
              agent,
              {
                url: webhook.url,
                headers: webhook.headers,
                timeoutMs: parseDuration(webhook.timeout),
                attempts: webhook.retries,
              },
              webhookBody(webhook, clean),
              this.policy,
              signal,
            ),
          ),
        )
        return { event, deliveries, warnings: deliveries.filter((d) => !d.ok).map((d) => warning(event, d)) }
      } finally {
        await agent.destroy().catch(() => undefined)
      }
    } catch (error) {
      // Not expected (deliver never throws); a broken notifier still must not break a release.
      const message = error instanceof Error ? error.message : String(error)
      return {
        event,
        deliveries: [],
        warnings: targets.map(
          (webhook) => `could not notify ${webhookLabel(webhook.url)} of ${event}: ${message}`,
        ),
      }
    }
  }

  /** Starts `notify` and returns at once; flush() waits for it. */
  notifyInBackground(notification: Notification): void {
    if (!this.wants(notification.event)) return
    const controller = new AbortController()
    const entry: InFlight = {
      controller,
      done: this.notify(notification, controller.signal)
        .then((report) => {
          this.inFlight.delete(entry)
          this.finished.push(report)
          for (const message of report.warnings) this.options.onWarning?.(message)
        })
        // Only onWarning can throw here; a background send must never become an unhandled rejection.
        .catch(() => undefined)
        .finally(() => this.inFlight.delete(entry)),
    }
    this.inFlight.add(entry)
  }

  /**
   * Waits for the background notifications, at most `maxMs`; those still unsent then are
   * abandoned (reported as warnings). Call it before the process exits.
   */
  async flush(maxMs = 5000): Promise<FlushReport> {
    const waiting = [...this.inFlight]
    let abandoned = 0
    if (waiting.length > 0) {
      const all = Promise.all(waiting.map((entry) => entry.done))
      let timer: NodeJS.Timeout | undefined
      const ranOut = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), maxMs))),
      ])
      clearTimeout(timer)
      if (ranOut) {
        for (const entry of waiting) {
          if (!this.inFlight.has(entry)) continue
          abandoned++
          entry.controller.abort(new FlushTimeout(maxMs))
        }
        await all
      }
    }
    const reports = this.finished
    this.finished = []
    return { reports, warnings: reports.flatMap((report) => report.warnings), abandoned }
  }
}

function warning(event: Notification['event'], delivery: Delivery): string {
  const tries = delivery.attempts === 1 ? '1 attempt' : `${delivery.attempts} attempts`
  return `could not notify ${delivery.webhook} of ${event} (${tries}, ${delivery.ms}ms): ${delivery.problem ?? 'failed'}`
}
