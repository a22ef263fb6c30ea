/** Webhook URLs are credentials: what output may show of them, and what it never does. */
import { describe, expect, it } from 'vitest'
import { registerWebhookSecrets, retryAfter, scrubWebhookUrl, webhookLabel } from '../../src/notify/index.js'
import { redact } from '../../src/redact.js'

describe('webhookLabel', () => {
  it.each([
    [
      'https://hooks.slack.com/services/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',
      'https://hooks.slack.com/services/***/***/***',
    ],
    [
      'https://discord.com/api/webhooks/1234567890/aBcD-eFgH_iJkL',
      'https://discord.com/api/webhooks/***/***',
    ],
    [
      'https://acme.webhook.office.com/webhookb2/8f1c2a3e-aaaa-bbbb-cccc-1234567890ab@9e8d/IncomingWebhook/0a1b2c3d4e/77aa',
      'https://acme.webhook.office.com/***/***/***/***/***',
    ],
    [
      'https://user:pa55word@hooks.example.com:8443/v1/notify?sig=abc#frag',
      'https://hooks.example.com:8443/v1/notify?***',
    ],
    ['http://127.0.0.1:9000/hook', 'http://127.0.0.1:9000/hook'],
    ['https://example.com', 'https://example.com'],
  ])('%s → %s', (url, label) => {
    expect(webhookLabel(url)).toBe(label)
  })

  it('says so of a URL it cannot read, without repeating it', () => {
    expect(webhookLabel('not a url T0ABC1234')).toBe('a webhook with an invalid URL')
  })
})

describe('registerWebhookSecrets', () => {
  it('masks a webhook’s tokens wherever they turn up later, keeping the host', () => {
    const url =
      'https://hooks.slack.com/services/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?key=qq-reg-secret'
    expect(redact(`POST ${url} failed`)).toContain('Zz9vLm2Rt7Kp3Zw8Yn4Reg12')
    registerWebhookSecrets([{ url, headers: { 'X-Api-Key': 'hdr-reg-secret-42' } }])
    const out = redact(`POST ${url} failed; token Zz9vLm2Rt7Kp3Zw8Yn4Reg12 again; header hdr-reg-secret-42`)
    expect(out).toContain('https://hooks.slack.com/services/')
    for (const secret of [
      'T0REG1234',
      'B0REG5678',
      'Zz9vLm2Rt7Kp3Zw8Yn4Reg12',
      'qq-reg-secret',
      'hdr-reg-secret-42',
    ])
      expect(out).not.toContain(secret)
  })

  it('masks the whole path when one of its tokens is too short to mask alone', () => {
    const url = 'https://hooks.example.net/in/AB12/Qx7'
    registerWebhookSecrets([{ url }])
    expect(redact(`sent to ${url}`)).toBe('sent to https://hooks.example.net***')
  })
})

describe('scrubWebhookUrl', () => {
  it('replaces the URL and its bare path in an error message with the label', () => {
    const url = 'https://hooks.slack.com/services/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'
    const text = `request to ${url} failed; POST /services/T0SCR1234/B0SCR5678/Yy9vLm2Rt7Kp3Zw8Yn4Scr12 refused`
    expect(scrubWebhookUrl(text, url)).toBe(
      'request to https://hooks.slack.com/services/***/***/*** failed; POST https://hooks.slack.com/services/***/***/*** refused',
    )
  })
})

describe('retryAfter', () => {
  it('reads seconds and HTTP dates, and ignores what it cannot read', () => {
    const now = Date.parse('2026-12-01T12:00:00Z')
    expect(retryAfter('3', now)).toBe(3000)
    expect(retryAfter(' 0 ', now)).toBe(0)
    expect(retryAfter('Tue, 01 Dec 2026 12:00:07 GMT', now)).toBe(7000)
    expect(retryAfter('Tue, 01 Dec 2026 11:59:00 GMT', now)).toBe(0)
    expect(retryAfter('soon', now)).toBeUndefined()
    expect(retryAfter(undefined, now)).toBeUndefined()
  })
})
