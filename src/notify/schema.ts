/**
 * The plan's `notify:` list: webhooks, each with the events it wants. Strict objects like the
 * rest of the plan; the JSON Schema is generated from these descriptions.
 */
import * as z from 'zod'
import { durationPattern, parseDuration } from '../format/duration.js'

/** Everything a webhook can subscribe to, in the order a release meets them. */
export const notifyEvents = [
  'release.started',
  'release.done',
  'release.failed',
  'rollback',
  'approval.waiting',
  'contract.due',
  'contract.overdue',
  'contract.applied',
  'lock.stale',
] as const
export type NotifyEvent = (typeof notifyEvents)[number]

export const NotifyEventName = z
  .enum(notifyEvents)
  .describe(
    'release.started, release.done, release.failed, rollback (manual or automatic, with the reason), ' +
      'approval.waiting, contract.due, contract.overdue, contract.applied or lock.stale',
  )

/** A notification that waits longer than this would stall the command that sends it. */
const maxTimeoutMs = 60_000

const Timeout = z
  .string()
  .regex(durationPattern, { message: 'expected a duration such as 250ms, 5s or 1m' })
  // zod runs a refinement even after the regex failed: only a duration is measured.
  .refine(
    (text) => !durationPattern.test(text) || (parseDuration(text) > 0 && parseDuration(text) <= maxTimeoutMs),
    {
      message: 'a webhook timeout is between 1ms and 1m',
    },
  )

const httpUrl = z.url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' })

/** RFC 9110 token: what a header name may be made of. */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: 'not a valid header name' })
const headerValue = z.string().regex(/^[^\r\n\0]*$/, { message: 'a header value is one line' })

export const Webhook = z
  .strictObject({
    url: httpUrl.describe(
      'Where to POST; use ${SLACK_WEBHOOK_URL} to keep the token out of the plan (it is never printed)',
    ),
    format: z
      .enum(['slack', 'json'])
      .describe('slack: an incoming-webhook message (text and blocks); json: the notification as JSON'),
    events: z
      .array(NotifyEventName)
      .min(1)
      .refine((events) => new Set(events).size === events.length, { message: 'an event is listed twice' })
      .describe('The events this webhook is told about'),
    headers: z
      .record(headerName, headerValue)
      .optional()
      .describe(
        'Extra request headers (an authorization token from an environment variable, say); values are never printed',
      ),
    timeout: Timeout.default('5s').describe('Per attempt, at most 1m'),
    retries: z
      .int()
      .min(1)
      .max(10)
      .default(3)
      .describe('Attempts in all, the first included; retried with backoff on network errors, 429 and 5xx'),
    link: httpUrl
      .optional()
      .describe('A link shown as a button in Slack and sent in JSON; {{app}} and {{version}} are filled'),
  })
  .describe('A webhook told about the release')
export type Webhook = z.output<typeof Webhook>
export type WebhookInput = z.input<typeof Webhook>

export const Notify = z
  .array(Webhook)
  .max(20)
  .describe(
    'Webhooks told about releases, rollbacks, approvals, contracts and stale locks; a failure to tell ' +
      'one is a warning, never a failed release',
  )
export type Notify = z.output<typeof Notify>
