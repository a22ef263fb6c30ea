/**
 * The Notifier against a real HTTP receiver on 127.0.0.1: what arrives, which webhooks are told,
 * how long a dead receiver can hold a caller, when it retries, and what the warnings show.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Notifier, Webhook, type Notification, type WebhookInput } from '../../src/notify/index.js'
import { redact } from '../../src/redact.js'
import { haveBinary } from '../support/process.js'
import { createTestPki, startHttpsApp } from '../support/tls.js'
import { startReceiver, type Receiver } from './receiver.js'

let receiver: Receiver
beforeEach(async () => {
  receiver = await startReceiver()
})
afterEach(async () => {
  await receiver.close()
})

const rollback: Notification = {
  event: 'rollback',
  app: 'shop',
  at: '2026-12-01T12:00:00.000Z',
  version: '1.3.2',
  fromVersion: '1.4.0',
  pool: 'blue',
  fromPool: 'green',
  reason: 'verify failed: 5 of 20 requests answered 502',
  automatic: true,
  releaseId: 'r-42',
}

function hook(input: Partial<WebhookInput> & { url?: string }): Webhook {
  return Webhook.parse({ url: `${receiver.url}/hook`, format: 'json', events: ['rollback'], ...input })
}

/** Small backoff so the timing tests measure the rules, not the defaults. */
const fast = { backoffMs: 50, maxBackoffMs: 400, maxRetryAfterMs: 2000 }

describe('what a webhook receives', () => {
  it('gets a Slack message naming the app, versions, pools and reason, with a link button', async () => {
    // Given a slack webhook with a link that names the version
    const notifier = new Notifier(
      [hook({ format: 'slack', link: 'https://ci.example.com/shop/{{version}}' })],
      fast,
    )
    // When a rollback is notified
    const report = await notifier.notify(rollback)
    // Then one POST of JSON arrived, with a fallback text and blocks
    expect(report.warnings).toEqual([])
    expect(receiver.requests).toHaveLength(1)
    const [request] = receiver.requests
    expect(request.method).toBe('POST')
    expect(request.path).toBe('/hook')
    expect(request.headers['content-type']).toBe('application/json')
    const message = JSON.parse(request.body)
    expect(message.text).toContain('shop')
    expect(message.text).toContain('1.4.0 → 1.3.2')
    expect(message.text).toContain('verify failed')
    const types = message.blocks.map((b: { type: string }) => b.type)
    expect(types[0]).toBe('header')
    expect(types).toContain('section')
    expect(types.at(-1)).toBe('context')
    expect(message.blocks[0].text).toMatchObject({ type: 'plain_text' })
    expect(message.blocks[0].text.text).toContain('rolled back automatically to 1.3.2')
    const fields = message.blocks[1].fields.map((f: { text: string }) => f.text)
    expect(fields).toContain('*App*\nshop')
    expect(fields).toContain('*Version*\n1.4.0 → 1.3.2')
    expect(fields).toContain('*Pool*\ngreen → blue')
    expect(fields).toContain('*Rollback*\nautomatic')
    const reason = message.blocks.find((b: { text?: { text: string } }) =>
      b.text?.text.startsWith('*Reason*'),
    )
    expect(reason.text.text).toBe('*Reason*\nverify failed: 5 of 20 requests answered 502')
    const actions = message.blocks.find((b: { type: string }) => b.type === 'actions')
    expect(actions.elements[0]).toMatchObject({ type: 'button', url: 'https://ci.example.com/shop/1.3.2' })
    expect(message.blocks.at(-1).elements[0].text).toContain('rollback')
  })

  it('gets no button when no link is given', async () => {
    await new Notifier([hook({ format: 'slack' })], fast).notify(rollback)
    const message = JSON.parse(receiver.requests[0].body)
    expect(message.blocks.map((b: { type: string }) => b.type)).not.toContain('actions')
  })

  it('gets the notification itself as a JSON body', async () => {
    await new Notifier([hook({ link: 'https://ci.example.com/{{app}}' })], fast).notify(rollback)
    expect(JSON.parse(receiver.requests[0].body)).toEqual({
      ...rollback,
      link: 'https://ci.example.com/shop',
    })
  })

  it('gets the plan’s headers, and they may override the content type', async () => {
    const notifier = new Notifier(
      [hook({ headers: { Authorization: 'Bearer s3cr3t-token-value', 'X-Team': 'payments' } })],
      fast,
    )
    await notifier.notify(rollback)
    expect(receiver.requests[0].headers.authorization).toBe('Bearer s3cr3t-token-value')
    expect(receiver.requests[0].headers['x-team']).toBe('payments')
    expect(receiver.requests[0].headers['user-agent']).toBe('bluegreen')

    await new Notifier([hook({ headers: { 'Content-Type': 'application/x-ndjson' } })], fast).notify(rollback)
    expect(receiver.requests[1].headers['content-type']).toBe('application/x-ndjson')
  })

  it('is told with a redacted reason: a secret quoted by a failure never leaves the machine', async () => {
    await new Notifier([hook({})], fast).notify({
      ...rollback,
      reason: 'deploy said: connecting to postgres://app:hunter2hunter2@db/shop',
    })
    const body = JSON.parse(receiver.requests[0].body)
    expect(body.reason).toBe('deploy said: connecting to postgres://app:***@db/shop')
  })
})

describe('who is told', () => {
  it('sends only to the webhooks subscribed to the event', async () => {
    const other = await startReceiver()
    try {
      const notifier = new Notifier(
        [
          hook({ events: ['release.done', 'rollback'] }),
          hook({ url: `${other.url}/other`, events: ['release.failed'] }),
        ],
        fast,
      )
      expect(notifier.wants('rollback')).toBe(true)
      expect(notifier.wants('lock.stale')).toBe(false)
      await notifier.notify(rollback)
      await notifier.notify({ ...rollback, event: 'release.failed' })
      const none = await notifier.notify({ ...rollback, event: 'contract.due' })
      expect(receiver.requests.map((r) => JSON.parse(r.body).event)).toEqual(['rollback'])
      expect(other.requests.map((r) => JSON.parse(r.body).event)).toEqual(['release.failed'])
      expect(none).toEqual({ event: 'contract.due', deliveries: [], warnings: [] })
    } finally {
      await other.close()
    }
  })

  it('tells all subscribed webhooks in parallel', async () => {
    // Given two receivers that never answer, and a timeout of 600ms
    const [a, b] = await Promise.all([startReceiver('hang'), startReceiver('hang')])
    try {
      const notifier = new Notifier(
        [
          hook({ url: `${a.url}/a`, timeout: '600ms', retries: 1 }),
          hook({ url: `${b.url}/b`, timeout: '600ms', retries: 1 }),
        ],
        fast,
      )
      const started = performance.now()
      const report = await notifier.notify(rollback)
      const ms = performance.now() - started
      // Then both were tried and the whole took about one timeout, not two
      expect(a.requests).toHaveLength(1)
      expect(b.requests).toHaveLength(1)
      expect(report.warnings).toHaveLength(2)
      expect(ms).toBeGreaterThanOrEqual(590)
      expect(ms).toBeLessThan(1100)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})

describe('retries and time bounds', () => {
  it('gives up on a receiver that never answers within timeout × attempts + backoff, with a warning', async () => {
    receiver.fallback = 'hang'
    const notifier = new Notifier([hook({ timeout: '300ms', retries: 3 })], fast)
    const started = performance.now()
    const report = await notifier.notify(rollback)
    const ms = performance.now() - started
    // 3 × 300ms + backoff 50 + 100 = 1050ms, and some slack for a busy machine
    expect(ms).toBeGreaterThanOrEqual(3 * 300)
    expect(ms).toBeLessThan(1050 + 600)
    expect(receiver.requests).toHaveLength(3)
    expect(report.deliveries[0]).toMatchObject({ ok: false, attempts: 3 })
    expect(report.warnings).toHaveLength(1)
    expect(report.warnings[0]).toMatch(
      /could not notify http:\/\/127\.0\.0\.1:\d+\/hook of rollback \(3 attempts/,
    )
    expect(report.warnings[0]).toContain('no answer within 300ms')
  })

  it('retries a 500 and succeeds, waiting longer each time', async () => {
    receiver.script({ status: 500, body: 'boom' }, { status: 503 })
    const report = await new Notifier([hook({ retries: 3 })], { ...fast, backoffMs: 100 }).notify(rollback)
    expect(report.warnings).toEqual([])
    expect(report.deliveries[0]).toMatchObject({ ok: true, attempts: 3, status: 200 })
    expect(receiver.requests).toHaveLength(3)
    const [first, second, third] = receiver.requests.map((r) => r.at)
    // backoff 100ms then 200ms, less at most a fifth of jitter
    expect(second - first).toBeGreaterThanOrEqual(75)
    expect(third - second).toBeGreaterThanOrEqual(155)
    expect(third - second).toBeGreaterThan(second - first)
  })

  it('does not retry a 400, and says what the receiver said', async () => {
    receiver.script({ status: 400, body: 'invalid_payload\n' })
    const report = await new Notifier([hook({ retries: 3 })], fast).notify(rollback)
    expect(receiver.requests).toHaveLength(1)
    expect(report.deliveries[0]).toMatchObject({ ok: false, attempts: 1, status: 400 })
    expect(report.warnings[0]).toContain('(1 attempt,')
    expect(report.warnings[0]).toContain('answered 400: invalid_payload')
  })

  it('gives up after the last attempt when every answer is a 5xx', async () => {
    receiver.fallback = { status: 502, body: '<html>bad gateway</html>' }
    const report = await new Notifier([hook({ retries: 2 })], fast).notify(rollback)
    expect(receiver.requests).toHaveLength(2)
    expect(report.warnings[0]).toMatch(/\(2 attempts, \d+ms\): answered 502$/)
  })

  it('honours Retry-After on a 429', async () => {
    receiver.script({ status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' })
    const report = await new Notifier([hook({})], fast).notify(rollback)
    expect(report.deliveries[0]).toMatchObject({ ok: true, attempts: 2 })
    const [first, second] = receiver.requests.map((r) => r.at)
    // Retry-After: 1 means a second, far above the 50ms backoff
    expect(second - first).toBeGreaterThanOrEqual(950)
    expect(second - first).toBeLessThan(1800)
  })

  it('waits no longer than the cap when Retry-After asks for more', async () => {
    receiver.script({ status: 429, headers: { 'retry-after': '120' } })
    const started = performance.now()
    const report = await new Notifier([hook({})], { ...fast, maxRetryAfterMs: 300 }).notify(rollback)
    expect(report.deliveries[0]).toMatchObject({ ok: true, attempts: 2 })
    const [first, second] = receiver.requests.map((r) => r.at)
    expect(second - first).toBeGreaterThanOrEqual(280)
    expect(performance.now() - started).toBeLessThan(1500)
  })

  it('does not follow or retry a redirect', async () => {
    receiver.script({ status: 302, headers: { location: '/elsewhere' } })
    const report = await new Notifier([hook({ retries: 3 })], fast).notify(rollback)
    expect(receiver.requests).toHaveLength(1)
    expect(report.warnings[0]).toContain('answered 302 (redirects are not followed)')
  })

  it('retries a refused connection, then warns', async () => {
    const closed = await startReceiver()
    const url = `${closed.url}/gone`
    await closed.close()
    const report = await new Notifier([hook({ url, retries: 2 })], fast).notify(rollback)
    expect(report.deliveries[0]).toMatchObject({ ok: false, attempts: 2 })
    expect(report.warnings[0]).toContain('connection refused')
  })
})

describe('redaction', () => {
  it('names a failing webhook without its userinfo, query or path tokens', async () => {
    // Given a Slack-shaped URL with credentials in every place a URL can hold them
    receiver.fallback = { status: 404, body: 'no_service' }
    const secretParts = [
      'T0ABC1234',
      'B0DEF5678',
      'Xq9vLm2Rt7Kp3Zw8Yn4Bc6Hd',
      'hookuser',
      'hookpass99',
      'qsecret-77',
    ]
    const url = `http://hookuser:hookpass99@127.0.0.1:${receiver.port}/services/T0ABC1234/B0DEF5678/Xq9vLm2Rt7Kp3Zw8Yn4Bc6Hd?token=qsecret-77`
    const report = await new Notifier([hook({ url, format: 'slack' })], fast).notify(rollback)
    // Then it was sent to the real path
    expect(receiver.requests[0].path).toBe(
      '/services/T0ABC1234/B0DEF5678/Xq9vLm2Rt7Kp3Zw8Yn4Bc6Hd?token=qsecret-77',
    )
    // And the warning names it by its label, with none of the secret parts
    const [warning] = report.warnings
    expect(warning).toContain(`http://127.0.0.1:${receiver.port}/services/***/***/***?***`)
    expect(warning).toContain('answered 404: no_service')
    for (const part of secretParts) expect(warning).not.toContain(part)
    expect(JSON.stringify(report)).not.toMatch(/T0ABC1234|Xq9vLm2Rt7Kp3Zw8Yn4Bc6Hd|hookpass99|qsecret-77/)
    // And the notifier registered them: any later output masks them too
    expect(redact(`posting to ${url} failed`)).not.toMatch(
      /T0ABC1234|B0DEF5678|Xq9vLm2Rt7Kp3Zw8Yn4Bc6Hd|hookpass99/,
    )
  })

  it('keeps an Authorization header out of the warning when the receiver echoes it', async () => {
    receiver.fallback = { status: 401, body: 'bad credentials: Authorization: Bearer zz-echoed-token-1234' }
    const report = await new Notifier(
      [hook({ headers: { Authorization: 'Bearer zz-echoed-token-1234' } })],
      fast,
    ).notify(rollback)
    expect(report.warnings[0]).toContain('answered 401')
    expect(report.warnings[0]).not.toContain('zz-echoed-token-1234')
  })
})

describe('in the background', () => {
  it('returns at once, and flush waits for the send', async () => {
    // Given a receiver that answers after 400ms
    receiver.script('hang')
    receiver.fallback = { status: 200 }
    const notifier = new Notifier([hook({ timeout: '400ms', retries: 2 })], fast)
    // When a notification is fired in the background
    const started = performance.now()
    notifier.notifyInBackground(rollback)
    const returnedAfter = performance.now() - started
    // Then the caller goes on at once (this is the rollback's critical path)
    expect(returnedAfter).toBeLessThan(20)
    expect(notifier.pending).toBe(1)
    // And flush waits until the retry has been answered
    const flushed = await notifier.flush(5000)
    expect(notifier.pending).toBe(0)
    expect(flushed.abandoned).toBe(0)
    expect(flushed.warnings).toEqual([])
    expect(flushed.reports).toHaveLength(1)
    expect(flushed.reports[0].deliveries[0]).toMatchObject({ ok: true, attempts: 2 })
    expect(receiver.requests).toHaveLength(2)
    // And a second flush has nothing left to report
    expect(await notifier.flush(100)).toEqual({ reports: [], warnings: [], abandoned: 0 })
  })

  it('flush gives up after its cap and reports what it abandoned', async () => {
    receiver.fallback = 'hang'
    const warnings: string[] = []
    const notifier = new Notifier([hook({ timeout: '10s', retries: 3 })], {
      ...fast,
      onWarning: (message) => warnings.push(message),
    })
    notifier.notifyInBackground(rollback)
    notifier.notifyInBackground({ ...rollback, event: 'release.done' }) // not subscribed: nothing sent
    expect(notifier.pending).toBe(1)
    const started = performance.now()
    const flushed = await notifier.flush(300)
    const ms = performance.now() - started
    expect(ms).toBeGreaterThanOrEqual(290)
    expect(ms).toBeLessThan(800)
    expect(flushed.abandoned).toBe(1)
    expect(flushed.warnings).toHaveLength(1)
    expect(flushed.warnings[0]).toContain(
      'abandoned: still unsent when the 300ms wait for notifications ran out',
    )
    expect(warnings).toEqual(flushed.warnings)
    expect(notifier.pending).toBe(0)
    expect(receiver.requests).toHaveLength(1)
  })

  it('flush with nothing pending returns at once', async () => {
    const notifier = new Notifier([hook({})], fast)
    const started = performance.now()
    expect(await notifier.flush(5000)).toEqual({ reports: [], warnings: [], abandoned: 0 })
    expect(performance.now() - started).toBeLessThan(50)
  })

  it('a failing background send reaches onWarning without anyone awaiting it', async () => {
    receiver.fallback = { status: 400, body: 'nope' }
    const warnings: string[] = []
    const notifier = new Notifier([hook({})], { ...fast, onWarning: (m) => warnings.push(m) })
    notifier.notifyInBackground(rollback)
    await expect.poll(() => warnings.length, { timeout: 2000 }).toBe(1)
    expect(warnings[0]).toContain('answered 400: nope')
    expect(notifier.pending).toBe(0)
  })
})

describe.runIf(haveBinary('openssl'))('over HTTPS', () => {
  it('does not retry a certificate it cannot trust: another attempt cannot help', async () => {
    // Given an HTTPS receiver whose certificate is signed by a CA the notifier does not know
    const pki = await createTestPki(['hooks.test'])
    const app = await startHttpsApp({
      pool: 'blue',
      version: '1',
      certs: pki.certs,
      defaultName: 'hooks.test',
    })
    try {
      const report = await new Notifier(
        [hook({ url: `https://127.0.0.1:${app.port}/hook`, retries: 3 })],
        fast,
      ).notify(rollback)
      expect(report.deliveries[0]).toMatchObject({ ok: false, attempts: 1 })
      expect(report.warnings[0]).toContain('TLS certificate is not trusted')
      expect(app.seen).toHaveLength(0)
    } finally {
      await app.close()
      await pki.remove()
    }
  })
})
