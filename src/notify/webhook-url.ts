/**
 * A webhook URL is a credential: Slack's `/services/T…/B…/xxxx`, Discord's `/api/webhooks/id/token`
 * and Teams' `/webhookb2/…` grant posting to whoever reads them, with no secret-looking
 * `token=` for src/redact.ts to find by shape. So a webhook is named in output by a label that
 * keeps the scheme, the host and the path's plain words and masks the rest, and its secret
 * parts are registered with src/redact.ts so that they are masked wherever they turn up later.
 */
import { redact, registerSecret, registerSecretsIn } from '../redact.js'

const mask = '***'
/** As in src/redact.ts, which does not export it. */
const minSecretLength = 6

/** Path segments shown as they are: plain lower-case words (`services`, `api`, `hooks`) and `v1`. */
function isPlainSegment(segment: string): boolean {
  return (
    (/^[a-z]{1,16}(?:[-_][a-z]{1,16}){0,2}$/.test(segment) && segment.length <= 24) ||
    /^v\d{1,2}$/.test(segment)
  )
}

/**
 * `https://hooks.slack.com/services/***\/***\/***`: scheme, host and port, plain path words; no
 * userinfo, no query (shown as `?***`), no fragment.
 */
export function webhookLabel(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'a webhook with an invalid URL'
  }
  const path = parsed.pathname
    .split('/')
    .map((segment) => (segment === '' || isPlainSegment(segment) ? segment : mask))
    .join('/')
  const query = parsed.search === '' ? '' : `?${mask}`
  return redact(`${parsed.protocol}//${parsed.host}${path === '/' ? '' : path}${query}`)
}

/**
 * Registers every secret part of the webhooks (userinfo, masked path segments, query values, the
 * whole URL, secret-named headers) with src/redact.ts. Idempotent; call it when the plan is loaded,
 * before anything is printed.
 */
export function registerWebhookSecrets(
  webhooks: readonly { url: string; headers?: Record<string, string> }[],
): void {
  for (const { url, headers } of webhooks) {
    if (headers) registerSecretsIn({ headers })
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      registerSecret(url)
      continue
    }
    // The parts, not the whole URL: output then still says which host it was.
    const parts = [
      parsed.username,
      parsed.password,
      ...parsed.pathname.split('/').filter((segment) => segment !== '' && !isPlainSegment(segment)),
    ].filter((part) => part !== '')
    for (const part of parts) registerSecret(part)
    for (const part of parts) registerSecret(decode(part))
    for (const value of parsed.searchParams.values()) registerSecret(value)
    if (parsed.search.length > 1) registerSecret(parsed.search.slice(1))
    // registerSecret ignores values too short to mask everywhere; a short path token is then
    // masked with the whole path it is part of.
    if (parts.some((part) => part.length < minSecretLength)) registerSecret(parsed.pathname)
  }
}

/** `text` with the webhook's URL (and its path, which alone is the credential) replaced by its label. */
export function scrubWebhookUrl(text: string, url: string): string {
  const label = webhookLabel(url)
  let out = text
  const forms = new Set([url])
  try {
    const parsed = new URL(url)
    forms.add(parsed.href)
    if (parsed.pathname.length > 1) forms.add(parsed.pathname + parsed.search)
  } catch {
    // an invalid URL has no other forms
  }
  for (const form of [...forms].sort((a, b) => b.length - a.length)) out = out.split(form).join(label)
  return redact(out)
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
