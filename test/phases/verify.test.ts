/**
 * The verify phase, called through its definition against a real HTTP server standing in for
 * production (reached through `resolve`, like curl --resolve): it passes when production answers
 * with the new version's marker, fails on errors, and its rollback confirmation looks for the
 * marker of the version rolled back to.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { phases } from '../../src/phases/index.js'
import { failure } from '../support/failure.js'
import { startTestApp, type TestApp } from '../support/http-app.js'
import { buildPlan, stepRunner, tempFileJournal, wordsFor } from './context.js'

const verify = phases.verify
// `.test` never resolves in DNS: only `resolve` reaches the server.
const host = 'shop.bluegreen.test'

describe('verify phase', () => {
  let production: TestApp
  let temp: Awaited<ReturnType<typeof tempFileJournal>>
  beforeAll(async () => {
    production = await startTestApp({ pool: 'green', version: '2.0.0' })
    temp = await tempFileJournal()
  })
  afterAll(async () => {
    await production?.close()
    await temp?.remove()
  })
  afterEach(() => {
    production.setMode('ok')
    production.setVersion('2.0.0')
  })

  const configFor = (more: object = {}) =>
    verify.schema.parse({
      url: `http://${host}:${production.port}/version`,
      resolve: `127.0.0.1:${production.port}`,
      for: '500ms',
      interval: '50ms',
      versionMarker: '"version":"{{version}}"',
      ...more,
    })

  async function runVerify(more: object = {}) {
    const plan = buildPlan({ phases: [{ verify: configFor(more) }] }, temp.dir)
    const { harness, run } = await stepRunner('verify', { plan, planDir: temp.dir, journal: temp.journal })
    return { harness, result: run() }
  }

  it('describes its bake time, limits and marker', () => {
    // Given
    const config = configFor({ for: '5m', interval: '10s' })
    const plan = buildPlan({ phases: [{ verify: config }] }, temp.dir)
    // When
    const words = verify.describe(config, wordsFor(plan, { pool: 'green', version: '2.0.0' }))
    // Then
    expect(words.summary).toBe(
      `watch http://${host}:${production.port}/version for 5m, every 10s; on failure switch back to the old pool`,
    )
    expect(words.details).toEqual([
      'expect 2xx',
      'fails at more than 5% errors or 3 failures in a row',
      '""version":"2.0.0"" must answer 3 times in a row',
      `connects to 127.0.0.1:${production.port} (like curl --resolve)`,
    ])
    expect(words.durationMs).toBe(300_000)
    expect(() => verify.schema.parse({ url: 'http://x/', for: '1m', resolve: 'no-port' })).toThrow(
      /host:port/,
    )
  })

  it('passes when production answers with the new version for the whole bake time', async () => {
    // Given production serves 2.0.0
    const before = production.requests
    const { result } = await runVerify()
    // When
    const summary = await result
    // Then it sampled for the bake time (not just until the marker was seen), Host as in the URL
    const samples = production.requests - before
    expect(samples).toBeGreaterThanOrEqual(5)
    expect(summary).toBe(`production healthy for 500ms: ${samples} samples, 0 errors`)
    expect(production.hosts.at(-1)).toBe(`${host}:${production.port}`)
  })

  it('fails with VERIFY_FAILED after failAfter errors in a row', async () => {
    // Given production answers 500
    production.setMode('status500')
    const { result } = await runVerify({ for: '5s', failAfter: 3 })
    // When
    const started = Date.now()
    const error = await failure(result)
    // Then it stopped at the third failure, not after the bake time
    expect(error).toMatchObject({ code: 'VERIFY_FAILED' })
    expect(error.message).toMatch(/3 failed samples in a row; last: .*500/)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('fails with VERIFY_FAILED when production keeps answering with another version', async () => {
    // Given production still serves the old version
    production.setVersion('1.0.0')
    const { result } = await runVerify({ for: '300ms' })
    // When
    const error = await failure(result)
    // Then
    expect(error).toMatchObject({ code: 'VERIFY_FAILED' })
    expect(error.message).toContain(
      'did not see the version marker "\\"version\\":\\"2.0.0\\"" 3 times in a row',
    )
  })

  it('confirms a rollback by the marker of the version rolled back to, as soon as it is seen', async () => {
    // Given production now answers from blue, which holds 1.0.0
    production.setVersion('1.0.0')
    const plan = buildPlan({ phases: [{ verify: configFor({ for: '10s' }) }] }, temp.dir)
    const context = { plan, planDir: temp.dir, to: 'blue' as const, signal: new AbortController().signal }
    // When
    const started = Date.now()
    await verify.confirmRollback?.(configFor({ for: '10s' }), { ...context, version: '1.0.0' })
    // Then the streak ended it, long before the bake time
    expect(Date.now() - started).toBeLessThan(3000)

    // And when production does not answer with that version, the rollback is not confirmed
    const error = await failure(
      verify.confirmRollback!(configFor({ for: '300ms' }), { ...context, version: '0.9.0' }),
    )
    expect(error).toMatchObject({ code: 'ROLLBACK_FAILED' })
    expect(error.message).toMatch(
      /^switched to blue, but production does not answer from it: did not see the version marker/,
    )

    // And without a known version, passing answers are enough
    await expect(verify.confirmRollback!(configFor({ for: '300ms' }), context)).resolves.toBeUndefined()
  })
})
