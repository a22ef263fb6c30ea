/**
 * Slack incoming-webhook messages: `text` is the fallback that mobile notifications show, and
 * `blocks` lay the same facts out (a header, a section of fields, the reason, a link button and a
 * context line). Block Kit's limits are kept here, because Slack rejects the whole message with
 * `invalid_blocks` when one field is too long: header text 150 characters, section text 3000,
 * a field 2000, at most 10 fields, button text 75 and its url 3000.
 */
import { headline, type Notification } from './notification.js'
import type { NotifyEvent } from './schema.js'

interface PlainText {
  type: 'plain_text'
  text: string
  emoji?: boolean
}
interface Mrkdwn {
  type: 'mrkdwn'
  text: string
}
export type SlackBlock =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text?: Mrkdwn; fields?: Mrkdwn[] }
  | { type: 'actions'; elements: { type: 'button'; text: PlainText; url: string; action_id: string }[] }
  | { type: 'context'; elements: Mrkdwn[] }

export interface SlackMessage {
  text: string
  blocks: SlackBlock[]
}

const icons: Record<NotifyEvent, string> = {
  'release.started': ':rocket:',
  'release.done': ':white_check_mark:',
  'release.failed': ':x:',
  rollback: ':rewind:',
  'approval.waiting': ':raised_hand:',
  'contract.due': ':broom:',
  'contract.overdue': ':warning:',
  'contract.applied': ':broom:',
  'lock.stale': ':lock:',
}

const limits = { header: 150, section: 3000, field: 2000, fields: 10, button: 75, url: 3000 }

export function slackMessage(n: Notification, link?: string): SlackMessage {
  const title = `${icons[n.event]} ${headline(n)}`
  const fields = factFields(n)
  const blocks: SlackBlock[] = [{ type: 'header', text: plain(title, limits.header) }]
  if (fields.length > 0) blocks.push({ type: 'section', fields: fields.slice(0, limits.fields) })
  if (n.reason) {
    blocks.push({ type: 'section', text: mrkdwn(`*Reason*\n${escape(n.reason)}`, limits.section) })
  }
  if (n.files && n.files.length > 0) {
    const list = n.files.map((file) => `• \`${escape(file)}\``).join('\n')
    blocks.push({ type: 'section', text: mrkdwn(`*Files*\n${list}`, limits.section) })
  }
  if (link && link.length <= limits.url) {
    blocks.push({
      type: 'actions',
      elements: [
        { type: 'button', text: plain('Open', limits.button), url: link, action_id: 'bluegreen-link' },
      ],
    })
  }
  blocks.push({
    type: 'context',
    elements: [mrkdwn(`bluegreen · \`${n.event}\` · ${escape(n.at)}`, limits.section)],
  })
  return { text: fallback(title, n), blocks }
}

/** `from → to` when both are known and differ; the one that is known otherwise. */
function change(from: string | undefined, to: string | undefined): string | undefined {
  if (from && to && from !== to) return `${from} → ${to}`
  return to ?? from
}

function factFields(n: Notification): Mrkdwn[] {
  const facts: [label: string, value: string | undefined][] = [
    ['App', n.app],
    ['Version', change(n.fromVersion, n.version)],
    ['Pool', change(n.fromPool, n.pool)],
    [
      'Rollback',
      n.event === 'rollback' && n.automatic !== undefined
        ? n.automatic
          ? 'automatic'
          : 'manual'
        : undefined,
    ],
    [n.event === 'lock.stale' ? 'Held by' : 'By', n.by],
    [sinceLabel(n.event), n.since],
    ['Release', n.releaseId],
  ]
  return facts
    .filter((fact): fact is [string, string] => fact[1] !== undefined && fact[1] !== '')
    .map(([label, value]) => mrkdwn(`*${label}*\n${escape(value)}`, limits.field))
}

function sinceLabel(event: NotifyEvent): string {
  if (event === 'approval.waiting') return 'Waiting since'
  if (event === 'lock.stale') return 'Held since'
  return 'Due since'
}

/** The text a phone shows: the headline and, when there is one, the reason. */
function fallback(title: string, n: Notification): string {
  const parts = [title]
  const versions = change(n.fromVersion, n.version)
  const pools = change(n.fromPool, n.pool)
  if (versions && versions !== n.version) parts.push(`version ${versions}`)
  if (pools) parts.push(`pool ${pools}`)
  if (n.reason) parts.push(n.reason)
  return truncate(escape(parts.join(' · ')), limits.section)
}

/** Slack reads `&`, `<` and `>` as markup (`<!channel>` would ping everyone). */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function plain(text: string, max: number): PlainText {
  return { type: 'plain_text', text: truncate(text, max), emoji: true }
}

function mrkdwn(text: string, max: number): Mrkdwn {
  return { type: 'mrkdwn', text: truncate(text, max) }
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text
  // Cut at a code point, not inside a surrogate pair, and never inside an `&amp;` entity.
  let cut = text.slice(0, max - 1)
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1)
  cut = cut.replace(/&[a-z]*$/, '')
  return `${cut}…`
}
