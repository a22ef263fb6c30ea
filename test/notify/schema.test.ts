import * as z from 'zod'
import { describe, expect, it } from 'vitest'
import { describeWebhook, Notify, notifyEvents, Webhook } from '../../src/notify/index.js'

const slack = {
  url: 'https://hooks.slack.com/services/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',
  format: 'slack',
  events: ['rollback', 'release.failed'],
}

function issues(value: unknown): string[] {
  const result = Notify.safeParse(value)
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

describe('the notify: list', () => {
  it('fills the defaults: 5s per attempt, 3 attempts', () => {
    expect(Notify.parse([slack])).toEqual([{ ...slack, timeout: '5s', retries: 3 }])
  })

  it('accepts every event, headers, a timeout, retries and a link', () => {
    const all = {
      url: 'http://127.0.0.1:9000/hook',
      format: 'json',
      events: [...notifyEvents],
      headers: { Authorization: 'Bearer abc', 'X-Team': 'payments' },
      timeout: '2s',
      retries: 5,
      link: 'https://ci.example.com/{{app}}/{{version}}',
    }
    expect(issues([all])).toEqual([])
  })

  it('refuses unknown keys, unknown events, repeated events and empty event lists', () => {
    expect(issues([{ ...slack, channel: '#ops' }])).toEqual(['0: Unrecognized key: "channel"'])
    expect(issues([{ ...slack, events: ['release.start'] }])[0]).toMatch(/^0\.events\.0: /)
    expect(issues([{ ...slack, events: ['rollback', 'rollback'] }])).toEqual([
      '0.events: an event is listed twice',
    ])
    expect(issues([{ ...slack, events: [] }])[0]).toMatch(/^0\.events: /)
  })

  it('refuses a format it cannot write, and a URL that is not http(s)', () => {
    expect(issues([{ ...slack, format: 'teams' }])[0]).toMatch(/^0\.format: /)
    expect(issues([{ ...slack, url: 'ftp://example.com/hook' }])).toEqual([
      '0.url: expected an http:// or https:// URL',
    ])
    expect(issues([{ ...slack, url: 'hooks.slack.com/services/x' }])[0]).toMatch(/^0\.url: /)
    expect(issues([{ ...slack, link: 'javascript:alert(1)' }])[0]).toMatch(/^0\.link: /)
  })

  it('bounds the timeout and the attempts', () => {
    expect(issues([{ ...slack, timeout: '2m' }])).toEqual([
      '0.timeout: a webhook timeout is between 1ms and 1m',
    ])
    expect(issues([{ ...slack, timeout: '0s' }])).toEqual([
      '0.timeout: a webhook timeout is between 1ms and 1m',
    ])
    expect(issues([{ ...slack, timeout: 'soon' }])[0]).toMatch(/^0\.timeout: expected a duration/)
    expect(issues([{ ...slack, timeout: '1m' }])).toEqual([])
    expect(issues([{ ...slack, retries: 0 }])[0]).toMatch(/^0\.retries: /)
    expect(issues([{ ...slack, retries: 11 }])[0]).toMatch(/^0\.retries: /)
    expect(issues([{ ...slack, retries: 1.5 }])[0]).toMatch(/^0\.retries: /)
  })

  it('refuses header names and values that would break the request', () => {
    expect(issues([{ ...slack, headers: { 'Bad Name': 'x' } }])[0]).toMatch(/^0\.headers\.Bad Name: /)
    expect(issues([{ ...slack, headers: { 'X-Evil': 'a\r\nHost: evil' } }])).toEqual([
      '0.headers.X-Evil: a header value is one line',
    ])
  })

  it('describes every field in the generated JSON Schema', () => {
    const schema = z.toJSONSchema(Notify, { io: 'input' }) as {
      description?: string
      items: {
        description?: string
        additionalProperties: boolean
        required: string[]
        properties: Record<string, { description?: string }>
      }
    }
    expect(schema.description).toBeTruthy()
    expect(schema.items.description).toBeTruthy()
    expect(schema.items.additionalProperties).toBe(false)
    expect(schema.items.required).toEqual(['url', 'format', 'events'])
    const fields = Object.keys(Webhook.shape)
    expect(Object.keys(schema.items.properties).sort()).toEqual([...fields].sort())
    for (const field of fields) expect(schema.items.properties[field].description, field).toBeTruthy()
  })

  it('is described for plan show without the URL’s secrets or the header values', () => {
    const [webhook] = Notify.parse([{ ...slack, headers: { Authorization: 'Bearer topsecret123' } }])
    const line = describeWebhook(webhook)
    expect(line).toBe(
      'slack → https://hooks.slack.com/services/***/***/*** on rollback, release.failed (timeout 5s, 3 attempts, headers Authorization)',
    )
  })
})
