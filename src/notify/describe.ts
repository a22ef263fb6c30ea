/** One line per webhook for `plan show` and `--dry-run`: what is told where, with nothing secret in it. */
import type { Webhook } from './schema.js'
import { webhookLabel } from './webhook-url.js'

export function describeWebhook(webhook: Webhook): string {
  const headers = Object.keys(webhook.headers ?? {})
  const extras = [
    `timeout ${webhook.timeout}`,
    webhook.retries === 1 ? '1 attempt' : `${webhook.retries} attempts`,
    ...(headers.length > 0 ? [`headers ${headers.join(', ')}`] : []),
    ...(webhook.link ? ['with a link'] : []),
  ]
  return `${webhook.format} → ${webhookLabel(webhook.url)} on ${webhook.events.join(', ')} (${extras.join(', ')})`
}
