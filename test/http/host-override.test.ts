import { readFile } from 'node:fs/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runSmoke, smokeFailure, type SmokeEvent } from '../../src/http/checks.js'
import { withOverride } from '../../src/http/host-override.js'
import { send } from '../../src/http/request.js'
import { verifyProduction } from '../../src/http/verify.js'
import type { Check } from '../../src/plan/schema.js'
import { haveBinary } from '../support/process.js'
import { createTestPki, startHttpsApp, type HttpsTestApp, type TestPki } from '../support/tls.js'

// `.test` never resolves in DNS: a request that ignored the override could not succeed by accident.
const production = 'shop.bluegreen.test'
const other = 'other.bluegreen.test'

const versionCheck: Check = {
  method: 'GET',
  path: '/version',
  expect: { json: [{ path: 'version', equals: '{{version}}' }] },
  timeout: '1s',
}

describe.runIf(haveBinary('openssl'))('host override over HTTPS', () => {
  let pki: TestPki
  const apps: HttpsTestApp[] = []

  beforeAll(async () => {
    pki = await createTestPki([production, other])
  })
  afterAll(async () => {
    await pki.remove()
  })
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()))
  })

  async function start(pool: string, version: string, certs: string[]): Promise<HttpsTestApp> {
    const app = await startHttpsApp({
      pool,
      version,
      certs: Object.fromEntries(certs.map((name) => [name, pki.certs[name]])),
      defaultName: certs[0],
    })
    apps.push(app)
    return app
  }

  it('reaches the intended server with the production Host and SNI, verified against the CA', async () => {
    // Given two servers, each holding certificates for both names, and only the second one targeted
    const bystander = await start('blue', '1.0.0', [other, production])
    const target = await start('green', '2.0.0', [other, production])

    // When a request for the production URL goes through an override to the second server
    const answer = await withOverride(
      {
        address: target.address,
        port: target.port,
        servername: production,
        ca: await readFile(pki.caFile),
        insecure: false,
      },
      (dispatcher) =>
        send(dispatcher, { url: `https://${production}/version`, method: 'GET', timeoutMs: 2000 }),
    )

    // Then it answered, it saw our SNI and Host, and the other server saw nothing
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toMatchObject({ pool: 'green', version: '2.0.0' })
    expect(target.seen).toEqual([{ servername: production, host: production, path: '/version' }])
    expect(bystander.seen).toEqual([])
  })

  it('smoke passes against every target with the production certificate', async () => {
    // Given a pool of two targets serving the production certificate
    const targets = [await start('green', '2.0.0', [production]), await start('green', '2.0.0', [production])]

    // When smoke runs over HTTPS with the CA file
    const report = await runSmoke({
      targets: targets.map((t, i) => ({ id: `green-${i}`, address: t.address, port: t.port })),
      host: production,
      scheme: 'https',
      caFile: pki.caFile,
      insecure: false,
      concurrency: 4,
      deadlineMs: 1000,
      checks: [versionCheck],
      vars: { version: '2.0.0' },
    })

    // Then every target passed, each reached with the production SNI, and nothing warned
    expect(report.results.map((r) => [r.target, r.ok])).toEqual([
      ['green-0', true],
      ['green-1', true],
    ])
    expect(report.ok).toBe(true)
    expect(report.warnings).toEqual([])
    for (const t of targets) expect(t.seen.map((s) => s.servername)).toEqual([production])
  })

  it('fails at once, clearly, when the target presents a certificate for another name', async () => {
    // Given a target that only has the certificate of another site
    const target = await start('green', '2.0.0', [other])

    // When smoke runs against it with a generous deadline
    const started = Date.now()
    const report = await runSmoke({
      targets: [{ id: 'green-0', address: target.address, port: target.port }],
      host: production,
      scheme: 'https',
      caFile: pki.caFile,
      insecure: false,
      concurrency: 1,
      deadlineMs: 5000,
      checks: [versionCheck],
      vars: { version: '2.0.0' },
    })

    // Then it failed without retrying (a wrong certificate does not fix itself), naming the name
    expect(report.ok).toBe(false)
    expect(Date.now() - started).toBeLessThan(2000)
    expect(report.results[0]).toMatchObject({ target: 'green-0', attempts: 1 })
    expect(report.results[0].problem).toBe(
      `TLS certificate is not valid for ${production}: it names DNS:${other}`,
    )
    const error = smokeFailure(report)
    expect(error.code).toBe('SMOKE_FAILED')
    expect(error.details[0]).toMatch(
      /^target green-0 \(127\.0\.0\.1:\d+\), check GET \/version: TLS certificate/,
    )
  })

  it('does not trust a certificate from a CA it was not given', async () => {
    // Given a target with the right name, signed by the test CA, and no caFile
    const target = await start('green', '2.0.0', [production])

    // When smoke runs without caFile
    const report = await runSmoke({
      targets: [{ id: 'green-0', address: target.address, port: target.port }],
      host: production,
      scheme: 'https',
      insecure: false,
      concurrency: 1,
      deadlineMs: 1000,
      checks: [versionCheck],
      vars: { version: '2.0.0' },
    })

    // Then it fails, and says to give caFile
    expect(report.ok).toBe(false)
    expect(report.results[0].problem).toMatch(/not trusted .*caFile/)
  })

  it('with insecure: true, accepts the wrong certificate but warns on every run', async () => {
    // Given a target with another site's certificate, and a plan that says insecure
    const target = await start('green', '2.0.0', [other])
    const events: SmokeEvent[] = []
    const options = {
      targets: [{ id: 'green-0', address: target.address, port: target.port }],
      host: production,
      scheme: 'https' as const,
      insecure: true,
      concurrency: 1,
      deadlineMs: 1000,
      checks: [versionCheck],
      vars: { version: '2.0.0' },
      onEvent: (e: SmokeEvent) => events.push(e),
    }

    // When smoke runs twice
    const first = await runSmoke(options)
    const second = await runSmoke(options)

    // Then both passed, both warned (report and event), and the SNI was still the production name
    for (const report of [first, second]) {
      expect(report.ok).toBe(true)
      expect(report.warnings).toHaveLength(1)
      expect(report.warnings[0]).toContain(`verification is OFF for ${production}`)
    }
    expect(events.filter((e) => e.type === 'warning')).toHaveLength(2)
    expect(target.seen.map((s) => s.servername)).toEqual([production, production])
  })

  it('verify connects to `resolve` over HTTPS with the URL host as SNI', async () => {
    // Given production (the load balancer) at a local address with the production certificate
    const lb = await start('green', '2.0.0', [production])

    // When verify samples https://<production>/version resolved to it
    const report = await verifyProduction({
      url: `https://${production}/version`,
      resolve: `${lb.address}:${lb.port}`,
      caFile: pki.caFile,
      insecure: false,
      forMs: 300,
      intervalMs: 50,
      expect: {},
      versionMarker: '{{version}}',
      versionSeen: 3,
      maxErrorRatio: 0,
      failAfter: 3,
      timeoutMs: 1000,
      vars: { version: '2.0.0' },
    })

    // Then it passed, every sample carried the production SNI and Host
    expect(report).toMatchObject({ ok: true, errors: 0 })
    expect(report.samples).toBeGreaterThanOrEqual(3)
    expect(new Set(lb.seen.map((s) => `${s.servername} ${s.host}`))).toEqual(
      new Set([`${production} ${production}`]),
    )
  })
})
