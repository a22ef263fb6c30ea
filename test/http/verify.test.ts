import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  verifyFailure,
  verifyProduction,
  type VerifyOptions,
  type VerifySample,
} from '../../src/http/verify.js'
import { startTestApp, type TestApp } from '../support/http-app.js'

const production = 'shop.bluegreen.test'

describe('verify production after the switch', () => {
  const apps: TestApp[] = []
  const servers: Server[] = []
  const timers: NodeJS.Timeout[] = []
  afterEach(async () => {
    timers.splice(0).forEach(clearTimeout)
    await Promise.all(apps.splice(0).map((app) => app.close()))
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  })

  async function productionApp(version: string): Promise<TestApp> {
    const app = await startTestApp({ pool: version === '1.0.0' ? 'blue' : 'green', version })
    apps.push(app)
    return app
  }

  function later(ms: number, fn: () => void): void {
    timers.push(setTimeout(fn, ms))
  }

  function verify(app: { address: string; port: number }, overrides: Partial<VerifyOptions> = {}) {
    return verifyProduction({
      // The production name with `resolve`, as a plan would say it for a load balancer not in DNS.
      url: `http://${production}/`,
      resolve: `${app.address}:${app.port}`,
      forMs: 600,
      intervalMs: 40,
      insecure: false,
      expect: {},
      versionMarker: '{{version}}',
      versionSeen: 3,
      maxErrorRatio: 0.05,
      failAfter: 3,
      timeoutMs: 300,
      vars: { version: '2.0.0' },
      ...overrides,
    })
  }

  it('notices that production still answers from the old version, and says what it saw', async () => {
    // Given production still served by the old version
    const app = await productionApp('1.0.0')

    // When verify bakes for 600 ms looking for 2.0.0
    const report = await verify(app)

    // Then it failed, although every answer was a 200, and the reason shows the old version
    expect(report.ok).toBe(false)
    expect(report.errors).toBe(0)
    expect(report.samples).toBeGreaterThanOrEqual(5)
    expect(report.versionStreak).toBe(0)
    expect(report.reason).toBe(
      'did not see the version marker "2.0.0" 3 times in a row within 600ms (streak at the end: 0); ' +
        'production answered: status 200, x-pool: blue, x-version: 1.0.0, body "version 1.0.0 from blue"',
    )
    expect(app.hosts.every((h) => h === production)).toBe(true)
    expect(verifyFailure(report, `http://${production}/`).code).toBe('VERIFY_FAILED')
  })

  it('passes once production answers from the new version', async () => {
    // Given production on the old version that switches to the new one 200 ms into the bake
    const app = await productionApp('1.0.0')
    later(200, () => app.setVersion('2.0.0'))
    const samples: VerifySample[] = []

    // When verify bakes for 600 ms
    const report = await verify(app, { onSample: (s) => samples.push(s) })

    // Then it passed with the marker seen in a row at the end, after samples that lacked it
    expect(report.ok).toBe(true)
    expect(report.reason).toBeUndefined()
    expect(report.versionStreak).toBeGreaterThanOrEqual(3)
    expect(samples[0]).toMatchObject({ ok: true, markerSeen: false, versionStreak: 0 })
    expect(samples[0].excerpt).toBe('version 1.0.0 from blue')
    expect(samples.at(-1)).toMatchObject({ ok: true, markerSeen: true })
    expect(report.durationMs).toBeGreaterThanOrEqual(560)
  })

  it('fails when the old version answers again after the new one was seen', async () => {
    // Given production on the new version that goes back to the old one mid-bake
    const app = await productionApp('2.0.0')
    later(250, () => app.setVersion('1.0.0'))

    // When verify bakes
    const report = await verify(app)

    // Then the early streak does not count: the end of the bake decides
    expect(report.ok).toBe(false)
    expect(report.reason).toContain('(streak at the end: 0)')
    expect(report.lastWithoutMarker).toContain('x-version: 1.0.0')
  })

  it('with untilVersionSeen, returns as soon as the streak is reached', async () => {
    // Given production already on the new version
    const app = await productionApp('2.0.0')

    // When verify runs with a long bake but untilVersionSeen (as rollback does)
    const started = Date.now()
    const report = await verify(app, { forMs: 10_000, untilVersionSeen: true })

    // Then it passed after exactly three samples
    expect(report).toMatchObject({ ok: true, samples: 3, versionStreak: 3, errors: 0 })
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('fails early after failAfter consecutive failures', async () => {
    // Given production answering 500
    const app = await productionApp('2.0.0')
    app.setMode('status500')

    // When verify would bake for 10 s
    const started = Date.now()
    const report = await verify(app, { forMs: 10_000 })

    // Then it stopped after three failed samples
    expect(report).toMatchObject({ ok: false, samples: 3, errors: 3, errorRatio: 1 })
    expect(report.reason).toBe('3 failed samples in a row; last: status 500, expected 2xx')
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('counts a hung or reset production as failed samples', async () => {
    // Given production that resets connections, then hangs
    const app = await productionApp('2.0.0')
    app.setMode('reset')
    const reset = await verify(app, { forMs: 5000 })
    app.setMode('hang')
    const hung = await verify(app, { forMs: 5000, timeoutMs: 100 })

    // Then both fail early with what happened
    expect(reset.ok).toBe(false)
    expect(reset.reason).toMatch(/^3 failed samples in a row; last: connection reset/)
    expect(hung.ok).toBe(false)
    expect(hung.reason).toBe('3 failed samples in a row; last: no answer within 100ms')
  })

  it('judges the error ratio over the whole bake', async () => {
    // Given production where every third request fails with 503 (connecting without `resolve`)
    let n = 0
    const server = createServer((_req, res) => {
      n++
      res.writeHead(n % 3 === 0 ? 503 : 200).end('version 2.0.0')
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`

    // When verify runs with a 10% limit, then with a 50% limit
    const strict = await verifyProduction({ ...base(url), maxErrorRatio: 0.1 })
    const lenient = await verifyProduction({ ...base(url), maxErrorRatio: 0.5 })

    // Then the first fails on the ratio and the second passes
    expect(strict.ok).toBe(false)
    expect(strict.reason).toMatch(
      /^error ratio 3\d(\.\d)?% \(\d+ of \d+ samples\) is above the limit of 10%; last: status 503/,
    )
    expect(lenient.ok).toBe(true)
    expect(lenient.errorRatio).toBeGreaterThan(0.25)
  })

  function base(url: string): VerifyOptions {
    return {
      url,
      forMs: 400,
      intervalMs: 20,
      insecure: false,
      expect: {},
      versionMarker: '{{version}}',
      versionSeen: 2,
      maxErrorRatio: 0.05,
      failAfter: 10,
      timeoutMs: 300,
      vars: { version: '2.0.0' },
    }
  }
})
