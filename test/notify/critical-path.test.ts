/**
 * A rollback switches first and notifies after, in the background: measured here as the time a
 * stand-in switch (one HTTP write to a local "load balancer", as the HAProxy runtime API or the
 * emulator would take) needs alone and with a notification fired right after it to a webhook
 * that never answers. Both are measured in the same run, interleaved, and the ratio printed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Notifier, Webhook, type Notification } from '../../src/notify/index.js'
import { startReceiver, type Receiver } from './receiver.js'

let lb: Receiver
let webhook: Receiver
beforeAll(async () => {
  ;[lb, webhook] = await Promise.all([startReceiver({ status: 200, body: 'ok' }), startReceiver('hang')])
})
afterAll(async () => {
  await Promise.all([lb.close(), webhook.close()])
})

const rollback: Notification = {
  event: 'rollback',
  app: 'shop',
  at: new Date().toISOString(),
  reason: 'manual',
}

async function switchPool(): Promise<void> {
  const response = await fetch(`${lb.url}/switch`, { method: 'POST', body: 'green 0, blue 100' })
  await response.text()
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

it('a notification fired after the switch adds (almost) nothing to the rollback', async () => {
  const notifier = new Notifier(
    [Webhook.parse({ url: `${webhook.url}/hook`, format: 'slack', events: ['rollback'], timeout: '10s' })],
    { backoffMs: 50 },
  )
  // Warm both paths (first request, first undici import) before measuring.
  await switchPool()
  notifier.notifyInBackground(rollback)
  const alone: number[] = []
  const withNotify: number[] = []
  const measureAlone = async () => {
    const started = performance.now()
    await switchPool()
    alone.push(performance.now() - started)
  }
  const measureWithNotify = async () => {
    const started = performance.now()
    await switchPool()
    notifier.notifyInBackground(rollback)
    withNotify.push(performance.now() - started)
  }
  // Interleaved, each first in every other round, so that neither gets the quieter moments.
  for (let round = 0; round < 40; round++) {
    if (round % 2 === 0) {
      await measureAlone()
      await measureWithNotify()
    } else {
      await measureWithNotify()
      await measureAlone()
    }
  }
  const flushed = await notifier.flush(200)
  const base = median(alone)
  const measured = median(withNotify)
  console.log(
    `rollback switch: alone ${base.toFixed(2)}ms, with a background notification to a dead webhook ` +
      `${measured.toFixed(2)}ms (ratio ${(measured / base).toFixed(2)}); flush(200ms) abandoned ${flushed.abandoned}`,
  )
  // The webhook never answers (10s timeout × 3 attempts): any wait for it would show as seconds.
  expect(measured - base).toBeLessThan(5)
  expect(flushed.abandoned).toBe(41)
  expect(webhook.requests.length).toBeGreaterThanOrEqual(1)
})
