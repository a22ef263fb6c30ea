import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { runSmoke, smokeFailure, type SmokeEvent, type SmokeOptions } from '../../src/http/checks.js'
import { isBluegreenError } from '../../src/errors.js'
import type { Check } from '../../src/plan/schema.js'
import { startTestApp, type AppMode, type TestApp } from '../support/http-app.js'

const production = 'shop.bluegreen.test'

function check(path: string, expectation: Check['expect'] = {}, extra: Partial<Check> = {}): Check {
  return { method: 'GET', path, expect: expectation, timeout: '300ms', ...extra }
}

const versionCheck = check('/version', { json: [{ path: 'version', equals: '{{version}}' }] })

describe('smoke checks through a host override (HTTP)', () => {
  const apps: TestApp[] = []
  const servers: Server[] = []
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()))
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  })

  async function app(pool: string, version: string, mode: AppMode = 'ok'): Promise<TestApp> {
    const started = await startTestApp({ pool, version })
    started.setMode(mode)
    apps.push(started)
    return started
  }

  function smoke(targets: TestApp[], overrides: Partial<SmokeOptions> = {}): ReturnType<typeof runSmoke> {
    return runSmoke({
      targets: targets.map((t, i) => ({ id: `${t.pool}-${i}`, address: t.address, port: t.port })),
      host: production,
      scheme: 'http',
      insecure: false,
      concurrency: 8,
      deadlineMs: 800,
      checks: [versionCheck],
      vars: { version: '2.0.0', pool: 'green' },
      ...overrides,
    })
  }

  it('passes when every target of the pool answers as the new version, with the production Host', async () => {
    // Given the live blue pool on 1.0.0 and two green targets on 2.0.0
    const blue = await app('blue', '1.0.0')
    const green = [await app('green', '2.0.0'), await app('green', '2.0.0')]

    // When the green pool is smoke-tested with vars in path, headers and expectations
    const report = await smoke(green, {
      checks: [
        check('/healthz', { status: 200, bodyContains: 'ok' }),
        versionCheck,
        check('/about/{{pool}}', {
          status: [200, 204],
          headers: { 'X-Pool': '{{pool}}' },
          headersMatch: { 'x-version': '^{{version}}$' },
          bodyMatches: 'version {{version}} from',
          maxLatency: '1s',
        }),
      ],
    })

    // Then all 2×3 checks passed on the first attempt, each green target saw only the
    // production Host, and blue was never touched
    expect(report.ok).toBe(true)
    expect(report.results).toHaveLength(6)
    expect(report.results.every((r) => r.ok && r.attempts === 1 && r.status === 200)).toBe(true)
    expect(report.results.map((r) => r.check)).toContain('GET /about/green')
    for (const target of green) expect(target.hosts).toEqual([production, production, production])
    expect(blue.requests).toBe(0)
  })

  it('fails on each bad target and says which target, which check and what it saw', async () => {
    // Given a green pool where one target is fine and the others are broken in every usual way
    const good = await app('green', '2.0.0')
    const failing = await app('green', '2.0.0', 'status500')
    const hanging = await app('green', '2.0.0', 'hang')
    const resetting = await app('green', '2.0.0', 'reset')
    const stale = await app('green', '1.0.0')

    // When smoke runs with a short deadline
    const started = Date.now()
    const report = await smoke([good, failing, hanging, resetting, stale])
    const elapsed = Date.now() - started

    // Then only the good target passed, each failure says what was seen, and the run stayed
    // within deadline + one request timeout
    expect(report.ok).toBe(false)
    expect(elapsed).toBeLessThan(800 + 300 + 1000)
    const byTarget = Object.fromEntries(report.results.map((r) => [r.target, r]))
    expect(byTarget['green-0']).toMatchObject({ ok: true, status: 200 })
    expect(byTarget['green-1']).toMatchObject({ ok: false, status: 500, problem: 'status 500, expected 2xx' })
    expect(byTarget['green-1'].excerpt).toContain('"version":"2.0.0"')
    expect(byTarget['green-2']).toMatchObject({ ok: false, problem: 'no answer within 300ms' })
    expect(byTarget['green-3'].ok).toBe(false)
    expect(byTarget['green-3'].problem).toMatch(/^connection reset/)
    expect(byTarget['green-4']).toMatchObject({
      ok: false,
      status: 200,
      problem: 'json version is "1.0.0", expected "2.0.0"',
    })
    expect(byTarget['green-4'].excerpt).toBe('{"app":"test","pool":"green","version":"1.0.0"}')
    for (const id of ['green-1', 'green-2', 'green-3', 'green-4'])
      expect(byTarget[id].attempts).toBeGreaterThan(1)

    // And the error has one line per failing target×check
    const error = smokeFailure(report)
    expect(error.code).toBe('SMOKE_FAILED')
    expect(error.message).toBe('smoke checks failed on 4 targets of the inactive pool (4 of 5 checks)')
    expect(error.details).toHaveLength(4)
    expect(error.details[0]).toMatch(
      /^target green-1 \(127\.0\.0\.1:\d+\), check GET \/version: status 500, expected 2xx/,
    )
    expect(error.details[3]).toContain('check GET /version: json version is "1.0.0", expected "2.0.0"')
    expect(error.details[3]).toContain(
      'answered: "{\\"app\\":\\"test\\",\\"pool\\":\\"green\\",\\"version\\":\\"1.0.0\\"}"',
    )
    expect(error.hint).toBeTruthy()
  })

  it('retries a failing check with backoff until the target recovers', async () => {
    // Given a target that answers 500 for its first 400 ms
    const target = await app('green', '2.0.0', 'status500')
    const timer = setTimeout(() => target.setMode('ok'), 400)
    const events: SmokeEvent[] = []

    // When smoke runs with a deadline longer than that
    const report = await smoke([target], { deadlineMs: 2000, onEvent: (e) => events.push(e) })
    clearTimeout(timer)

    // Then it passed after several attempts, each failed one reported with its retry delay
    expect(report.ok).toBe(true)
    expect(report.results[0].attempts).toBeGreaterThan(1)
    const retries = events.filter((e) => e.type === 'attempt')
    expect(retries).toHaveLength(report.results[0].attempts - 1)
    expect(retries[0]).toMatchObject({
      target: 'green-0',
      problem: 'status 500, expected 2xx',
      retryInMs: 100,
    })
    expect(retries[1]).toMatchObject({ retryInMs: 200 })
  })

  it('keeps at most `concurrency` requests in flight and enforces a latency limit', async () => {
    // Given one slow endpoint (120 ms) standing in for six targets, counting requests in flight
    let inFlight = 0
    let maxInFlight = 0
    const server = createServer((_req, res) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      setTimeout(() => {
        inFlight--
        res.end('slow')
      }, 120)
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const targets = Array.from({ length: 6 }, (_, i) => ({ id: `t${i}`, address: '127.0.0.1', port }))

    // When smoke runs with concurrency 2 and a 50 ms latency limit
    const report = await runSmoke({
      targets,
      host: production,
      scheme: 'http',
      insecure: false,
      concurrency: 2,
      deadlineMs: 0,
      checks: [check('/', { maxLatency: '50ms' })],
      vars: {},
    })

    // Then exactly two were in flight at a time, and each target failed on latency
    expect(maxInFlight).toBe(2)
    expect(report.results).toHaveLength(6)
    for (const r of report.results) {
      expect(r.ok).toBe(false)
      expect(r.problem).toMatch(/^took (1\d\d|[2-9]\d\d)ms, limit 50ms$|^took [\d.]+s, limit 50ms$/)
    }
  })

  it('dials the plan’s port on every target when one is given', async () => {
    // Given a target whose load-balancer port is not where the app listens
    const target = await app('green', '2.0.0')

    // When smoke runs with port set
    const report = await runSmoke({
      targets: [{ id: 'green-0', address: target.address, port: 1 }],
      host: production,
      port: target.port,
      scheme: 'http',
      insecure: false,
      concurrency: 1,
      deadlineMs: 500,
      checks: [versionCheck],
      vars: { version: '2.0.0' },
    })

    // Then the app's port was used
    expect(report.ok).toBe(true)
    expect(report.results[0].address).toBe(`127.0.0.1:${target.port}`)
  })

  it('rejects a placeholder without a value before sending anything', async () => {
    // Given a check that refers to {{versoin}}
    const target = await app('green', '2.0.0')

    // When smoke runs
    const error = await smoke([target], {
      checks: [check('/version', { bodyContains: '{{versoin}}' })],
    }).catch((e: unknown) => e)

    // Then it is a plan error naming the variable and the known ones, and no request was sent
    expect(isBluegreenError(error) && error.code).toBe('PLAN_INVALID')
    expect((error as Error).message).toBe('smoke.checks[0].expect.bodyContains: no value for {{versoin}}')
    expect(isBluegreenError(error) && error.hint).toBe('Known variables: {{version}}, {{pool}}.')
    expect(target.requests).toBe(0)
  })

  it('fails a pool with no targets', async () => {
    // When smoke runs with no targets
    const report = await smoke([])

    // Then it fails: an empty pool proves nothing
    expect(report.ok).toBe(false)
    expect(smokeFailure(report).message).toBe('smoke checks failed: the pool has no targets to check')
  })

  it('stops when the run is interrupted', async () => {
    // Given a hanging target and a long deadline
    const target = await app('green', '2.0.0', 'hang')
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('interrupted')), 100)

    // When the run is interrupted
    const started = Date.now()
    const error = await smoke([target], { deadlineMs: 10_000, signal: controller.signal }).catch(
      (e: unknown) => e,
    )

    // Then smoke rejects with the reason at once instead of reporting a failed check
    expect((error as Error).message).toBe('interrupted')
    expect(Date.now() - started).toBeLessThan(1000)
  })
})
