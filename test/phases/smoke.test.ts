/**
 * The smoke phase, called through its definition: every target of the inactive pool is checked
 * through a host override (the production Host header, and over TLS the production SNI,
 * verified against the plan's CA), against real HTTP and HTTPS servers on 127.0.0.1.
 */
import { relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { phases } from '../../src/phases/index.js'
import { failure } from '../support/failure.js'
import { closeApps, startPoolApps, type PoolApps } from '../support/http-app.js'
import { haveBinary } from '../support/process.js'
import { createTestPki, startHttpsApp, type HttpsTestApp, type TestPki } from '../support/tls.js'
import { buildPlan, stepRunner, tempFileJournal, wordsFor } from './context.js'

const smoke = phases.smoke
// `.test` never resolves in DNS: only the override can reach a server.
const host = 'shop.bluegreen.test'

let temp: Awaited<ReturnType<typeof tempFileJournal>>
beforeAll(async () => {
  temp = await tempFileJournal()
})
afterAll(() => temp.remove())

async function runSmoke(config: object, addresses: string[]) {
  const plan = buildPlan(
    {
      pools: { blue: { servers: ['blue1'] }, green: { servers: ['green1'], addresses } },
      phases: [{ smoke: config }],
    },
    temp.dir,
  )
  const { harness, run } = await stepRunner('smoke', { plan, planDir: temp.dir, journal: temp.journal })
  return { harness, result: run() }
}

describe('smoke phase over HTTP', () => {
  let apps: PoolApps
  beforeAll(async () => {
    apps = await startPoolApps(2, { blue: '1.0.0', green: '2.0.0' })
  })
  afterAll(() => closeApps(apps))
  const greenAddresses = () => apps.green.map((app) => `${app.address}:${app.port}`)

  it('describes its checks with the host override, and fills placeholders in them', () => {
    // Given
    const config = smoke.schema.parse({
      host,
      caFile: 'certs/ca.pem',
      checks: [{ path: '/version', expect: { status: 200, bodyContains: '{{version}}' } }],
    })
    const plan = buildPlan({ phases: [{ smoke: config }] }, temp.dir)
    // When
    const words = smoke.describe(config, wordsFor(plan, { pool: 'green', version: '2.0.0' }))
    // Then
    expect(words.summary).toBe(
      `GET /version → 200, body contains "2.0.0" on every target, Host ${host}, retry up to 60s`,
    )
    expect(words.details).toEqual(['http, up to 8 at a time, CA certs/ca.pem'])
    expect(words.durationMs).toBe(60_000)
  })

  it('passes when every target of the new pool answers, with the production Host header', async () => {
    // Given
    const before = apps.green.map((app) => app.hosts.length)
    const { result } = await runSmoke(
      {
        host,
        deadline: '2s',
        checks: [
          { path: '/healthz', expect: { status: 200 } },
          { path: '/', expect: { bodyContains: 'version {{version}} from {{pool}}' } },
        ],
      },
      greenAddresses(),
    )
    // When
    const summary = await result
    // Then each green target got both checks with Host set to the production name; blue got none
    expect(summary).toBe(`2 checks passed on 2 targets of green (Host ${host})`)
    for (const [i, app] of apps.green.entries()) expect(app.hosts.slice(before[i])).toEqual([host, host])
    expect(apps.blue.every((app) => app.requests === 0)).toBe(true)
  })

  it('fails with SMOKE_FAILED naming the target whose answer is wrong, after retrying until its deadline', async () => {
    // Given the second green target still runs the old version
    apps.green[1].setVersion('1.0.0')
    try {
      const { harness, result } = await runSmoke(
        {
          host,
          deadline: '600ms',
          checks: [
            {
              name: 'version',
              path: '/version',
              expect: { json: [{ path: 'version', equals: '{{version}}' }] },
            },
          ],
        },
        greenAddresses(),
      )
      // When
      const error = await failure(result)
      // Then only that target is named, and the retries were reported as progress
      expect(error).toMatchObject({ code: 'SMOKE_FAILED' })
      expect(error.message).toBe('smoke checks failed on 1 target of the inactive pool (1 of 2 checks)')
      expect(error.details).toEqual([expect.stringContaining(`target ${greenAddresses()[1]}`)])
      expect(error.details[0]).toContain('check version')
      expect(harness.progress.some((line) => line.startsWith(`${greenAddresses()[1]} version:`))).toBe(true)
    } finally {
      apps.green[1].setVersion('2.0.0')
    }
  })
})

describe.runIf(haveBinary('openssl'))('smoke phase over HTTPS', () => {
  let pki: TestPki
  let target: HttpsTestApp
  beforeAll(async () => {
    pki = await createTestPki([host, 'other.bluegreen.test'])
    // Its default certificate is for another name: only the right SNI gets the production one.
    target = await startHttpsApp({
      pool: 'green',
      version: '2.0.0',
      certs: pki.certs,
      defaultName: 'other.bluegreen.test',
    })
  })
  afterAll(async () => {
    await target?.close()
    await pki?.remove()
  })

  it('sends the production name as SNI and Host, verifying the certificate against caFile', async () => {
    // Given the CA file named relative to the plan's directory
    const { result } = await runSmoke(
      {
        host,
        scheme: 'https',
        caFile: relative(temp.dir, pki.caFile),
        deadline: '2s',
        checks: [{ path: '/version', expect: { json: [{ path: 'version', equals: '{{version}}' }] } }],
      },
      [`${target.address}:${target.port}`],
    )
    // When
    const summary = await result
    // Then
    expect(summary).toBe(`1 checks passed on 1 targets of green (Host ${host})`)
    expect(target.seen.at(-1)).toEqual({ servername: host, host, path: '/version' })
  })

  it('fails when the certificate cannot be verified (no CA given)', async () => {
    // Given no caFile: the test CA is not trusted
    const { result } = await runSmoke(
      { host, scheme: 'https', deadline: '300ms', checks: [{ path: '/healthz' }] },
      [`${target.address}:${target.port}`],
    )
    // When
    const error = await failure(result)
    // Then
    expect(error).toMatchObject({ code: 'SMOKE_FAILED' })
    expect(error.details.join('\n')).toMatch(/certificate/i)
  })
})
