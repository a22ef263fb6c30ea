/** The Slack message as Block Kit sees it: limits kept, markup escaped, every event readable. */
import { describe, expect, it } from 'vitest'
import { notifyEvents, slackMessage, type Notification, type SlackBlock } from '../../src/notify/index.js'

const base: Notification = {
  event: 'release.done',
  app: 'shop',
  at: '2026-12-01T12:00:00.000Z',
  version: '1.4.0',
}

function texts(blocks: SlackBlock[]): string[] {
  return blocks.flatMap((block) => {
    if (block.type === 'header') return [block.text.text]
    if (block.type === 'section') return [block.text?.text ?? '', ...(block.fields ?? []).map((f) => f.text)]
    if (block.type === 'context') return block.elements.map((e) => e.text)
    return block.elements.map((e) => e.text.text)
  })
}

describe('slackMessage', () => {
  it('has a header, facts and a context line for every event', () => {
    for (const event of notifyEvents) {
      const message = slackMessage({ ...base, event })
      expect(message.blocks[0].type, event).toBe('header')
      expect(message.blocks.at(-1)?.type, event).toBe('context')
      expect(message.text, event).toContain('shop')
      expect(JSON.stringify(message.blocks.at(-1)), event).toContain(event)
    }
  })

  it('says what each event means in its header', () => {
    const header = (n: Partial<Notification>) => {
      const [block] = slackMessage({ ...base, ...n }).blocks
      return block.type === 'header' ? block.text.text : ''
    }
    expect(header({ event: 'release.started' })).toBe(':rocket: shop: releasing 1.4.0')
    expect(header({ event: 'release.done' })).toBe(':white_check_mark: shop: 1.4.0 is live')
    expect(header({ event: 'release.failed' })).toBe(':x: shop: release of 1.4.0 failed')
    expect(header({ event: 'rollback', version: '1.3.2', automatic: false })).toBe(
      ':rewind: shop: rolled back to 1.3.2',
    )
    expect(header({ event: 'approval.waiting' })).toBe(':raised_hand: shop: 1.4.0 waits for approval')
    expect(header({ event: 'contract.overdue', version: '1.2.0' })).toBe(
      ':warning: shop: contract of 1.2.0 is overdue',
    )
    expect(header({ event: 'lock.stale' })).toBe(':lock: shop: the release lock looks stale')
  })

  it('lists a contract’s files and when it became due', () => {
    const message = slackMessage({
      ...base,
      event: 'contract.due',
      version: '1.2.0',
      files: ['001_drop_name.sql', '002_drop_trigger.sql'],
      since: '2026-11-20T00:00:00.000Z',
    })
    const all = texts(message.blocks)
    expect(all).toContain('*Due since*\n2026-11-20T00:00:00.000Z')
    expect(all).toContain('*Files*\n• `001_drop_name.sql`\n• `002_drop_trigger.sql`')
  })

  it('names the holder of a stale lock', () => {
    const all = texts(slackMessage({ ...base, event: 'lock.stale', by: 'ci@runner-7 pid 4242' }).blocks)
    expect(all).toContain('*Held by*\nci@runner-7 pid 4242')
  })

  it('escapes Slack markup, so a reason cannot ping a channel', () => {
    const message = slackMessage({ ...base, event: 'release.failed', reason: '<!channel> a & b > c' })
    expect(texts(message.blocks)).toContain('*Reason*\n&lt;!channel&gt; a &amp; b &gt; c')
    expect(message.text).toContain('&lt;!channel&gt; a &amp; b &gt; c')
    expect(JSON.stringify(message)).not.toContain('<!channel>')
  })

  it('keeps within Block Kit’s limits when the facts are long', () => {
    const message = slackMessage(
      {
        ...base,
        event: 'release.failed',
        app: 'a'.repeat(300),
        version: `v${'9'.repeat(2500)}`,
        reason: `${'x'.repeat(5000)}&`,
        files: Array.from({ length: 500 }, (_, i) => `${i}_a_rather_long_migration_file_name.sql`),
      },
      `https://ci.example.com/${'p'.repeat(3100)}`,
    )
    for (const block of message.blocks) {
      if (block.type === 'header') expect(block.text.text.length).toBeLessThanOrEqual(150)
      if (block.type === 'section') {
        expect((block.text?.text ?? '').length).toBeLessThanOrEqual(3000)
        expect((block.fields ?? []).length).toBeLessThanOrEqual(10)
        for (const field of block.fields ?? []) expect(field.text.length).toBeLessThanOrEqual(2000)
      }
    }
    expect(message.text.length).toBeLessThanOrEqual(3000)
    expect(message.text.endsWith('…')).toBe(true)
    // a link longer than Slack takes is left out rather than making Slack refuse the message
    expect(message.blocks.map((b) => b.type)).not.toContain('actions')
  })

  it('never cuts inside an emoji or an escaped entity', () => {
    const reasonOf = (reason: string) =>
      texts(slackMessage({ ...base, event: 'release.failed', reason }).blocks).find((t) =>
        t.startsWith('*Reason*'),
      )!
    // "*Reason*\n" is 9 characters: the cut at 2999 falls inside the emoji, then inside `&amp;`
    const emoji = reasonOf(`${'x'.repeat(2989)}😀😀`)
    expect(emoji).toBe(`*Reason*\n${'x'.repeat(2989)}…`)
    const entity = reasonOf(`${'x'.repeat(2987)}&&&&`)
    expect(entity).toBe(`*Reason*\n${'x'.repeat(2987)}…`)
  })
})
