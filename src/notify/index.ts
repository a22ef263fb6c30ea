/**
 * Notifications: the plan's `notify:` webhooks, told about releases, rollbacks, approvals,
 * contracts and stale locks. See notifier.ts for the rules (never throws, never on a critical path).
 */
export {
  Notify,
  NotifyEventName,
  Webhook,
  notifyEvents,
  type NotifyEvent,
  type WebhookInput,
} from './schema.js'
export { headline, type Notification } from './notification.js'
export { slackMessage, type SlackBlock, type SlackMessage } from './slack.js'
export {
  Notifier,
  webhookBody,
  type FlushReport,
  type NotifierOptions,
  type NotifyReport,
} from './notifier.js'
export { defaultRetryPolicy, retryAfter, type Delivery, type RetryPolicy } from './webhook.js'
export { registerWebhookSecrets, scrubWebhookUrl, webhookLabel } from './webhook-url.js'
export { describeWebhook } from './describe.js'
