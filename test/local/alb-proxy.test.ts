import { Agent, request, type IncomingHttpHeaders } from 'node:http'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startAlbEmulator, type AlbEmulator } from '../../src/local/alb/index.js'
import { runKeepAliveLoad } from '../support/load.js'
import { waitFor } from '../support/process.js'
import {
  closeApps,
  fixtureConfig,
  sdkClient,
  setListenerWeights,
  sleep,
  startPoolApps,
  type PoolApps,
} from './alb-support.js'

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
  reusedSocket: boolean
}

function send(
  url: string,
  options: { agent?: Agent | false; method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent: options.agent ?? false, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            reusedSocket: req.reusedSocket,
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

async function countPools(url: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const answer = await send(url)
    const key = answer.status === 200 ? String(answer.headers['x-pool']) : `status ${answer.status}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

describe('ALB emulator: the data plane', () => {
  let apps: PoolApps
  let emulator: AlbEmulator
  let sdk: Awaited<ReturnType<typeof sdkClient>>['sdk']
  let client: Awaited<ReturnType<typeof sdkClient>>['client']
  let url: string
  let blueArn: string
  let greenArn: string

  beforeAll(async () => {
    apps = await startPoolApps(2)
  })
  afterAll(async () => {
    await closeApps(apps)
  })
  beforeEach(async () => {
    emulator = await startAlbEmulator(fixtureConfig(apps))
    ;({ sdk, client } = await sdkClient(emulator.apiUrl))
    url = emulator.listeners[0].url
    ;[blueArn, greenArn] = emulator.targetGroups.map((tg) => tg.arn)
    const all = emulator.state.targetGroups.flatMap((tg) => [...tg.targets.values()])
    await waitFor(() => all.every((t) => t.health.state === 'healthy'), 5000, 'all targets to be healthy')
  })
  afterEach(async () => {
    for (const app of [...apps.blue, ...apps.green]) app.setMode('ok')
    client.destroy()
    await emulator.close()
  })

  async function setWeights(blue: number, green: number): Promise<void> {
    await setListenerWeights(emulator, { blue, green })
  }

  it('forwards every request to the live pool, round-robin over its healthy targets', async () => {
    // Given
    const before = apps.blue.map((app) => app.requests)
    // When
    const counts = await countPools(url, 10)
    // Then
    expect(counts).toEqual({ blue: 10 })
    // Health checks also reach the apps, so each got at least its 5 requests
    apps.blue.forEach((app, i) => expect(app.requests - before[i]).toBeGreaterThanOrEqual(5))
  })

  it('splits traffic by weight, exactly, with smooth weighted round-robin', async () => {
    // When
    await setWeights(90, 10)
    // Then
    expect(await countPools(url, 100)).toEqual({ blue: 90, green: 10 })
    // When
    await setWeights(1, 1)
    // Then
    expect(await countPools(url, 20)).toEqual({ blue: 10, green: 10 })
  })

  it('routes by the first matching rule, and the rest by the default action', async () => {
    // Given: the /api/* rule sends everything to green
    await client.send(
      new sdk.ModifyRuleCommand({
        RuleArn: emulator.listeners[0].rules[0].arn,
        Actions: [{ Type: 'forward', TargetGroupArn: greenArn }],
      }),
    )
    // When
    const api = await send(`${url}/api/orders?id=1`)
    const page = await send(`${url}/checkout`)
    // Then
    expect(api.headers['x-pool']).toBe('green')
    expect(page.headers['x-pool']).toBe('blue')
  })

  it('passes method, body, Host and the app’s own status through', async () => {
    // When
    const answer = await send(`${url}/version`, {
      method: 'POST',
      headers: { host: 'shop.example.com' },
      body: 'x'.repeat(5000),
    })
    // Then
    expect(answer.status).toBe(200)
    expect(answer.headers['x-host']).toBe('shop.example.com')
    expect(JSON.parse(answer.body)).toMatchObject({ pool: 'blue' })

    // Given: an app that fails its requests (but both blue targets still count as healthy for now)
    apps.blue[0].setMode('status500')
    apps.blue[1].setMode('status500')
    // When
    const failing = await send(url)
    // Then: the app's answer, not the load balancer's
    expect(failing.status).toBe(500)
    expect(failing.headers['x-pool']).toBe('blue')
  })

  it('fails open when every target of the group is unhealthy, as ELBv2 does, and answers 503 with no targets', async () => {
    // Given
    apps.blue[0].setMode('status500')
    apps.blue[1].setMode('status500')
    const blue = emulator.state.targetGroups[0]
    await waitFor(() => [...blue.targets.values()].every((t) => t.health.state === 'unhealthy'), 5000)
    // When
    const answer = await send(url)
    // Then: sent to an unhealthy target rather than refused
    expect(answer.status).toBe(500)
    expect(answer.headers['x-pool']).toBe('blue')

    // Given: no targets at all
    await client.send(
      new sdk.DeregisterTargetsCommand({
        TargetGroupArn: blueArn,
        Targets: apps.blue.map((app) => ({ Id: app.address, Port: app.port })),
      }),
    )
    // When
    const empty = await send(url)
    // Then
    expect(empty.status).toBe(503)
    expect(empty.headers.server).toBe('awselb/2.0')
  })

  it('answers 502 for a target that went away, until health checks take it out', async () => {
    // Given
    const gone = apps.blue[0]
    await gone.close()
    // When: before the checks notice
    const early = await countPools(url, 4)
    // Then
    expect(early['status 502']).toBeGreaterThanOrEqual(1)
    // When: after they did
    const record = [...emulator.state.targetGroups[0].targets.values()].find((t) => t.port === gone.port)!
    await waitFor(() => record.health.state === 'unhealthy', 5000)
    // Then
    expect(await countPools(url, 6)).toEqual({ blue: 6 })
    // (restart the app on the same port for the next tests)
    const { startTestApp } = await import('../support/http-app.js')
    apps.blue[0] = await startTestApp({ pool: 'blue', version: 'blue-v1', port: gone.port })
  })

  it('keeps a client’s keep-alive connection open across a switch and serves it from the new pool', async () => {
    // Given: one kept-alive connection
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const first = await send(url, { agent })
      expect(first.headers['x-pool']).toBe('blue')
      // When
      await setWeights(0, 100)
      const second = await send(url, { agent })
      // Then: the same connection, answered by the new pool
      expect(second.reusedSocket).toBe(true)
      expect(second.headers['x-pool']).toBe('green')
    } finally {
      agent.destroy()
    }
  })

  it('drops no request across 10 switches under keep-alive load', async () => {
    // Given: a client on keep-alive connections throughout
    const switching = (async () => {
      await sleep(200)
      for (let i = 0; i < 10; i++) {
        await (i % 2 === 0 ? setWeights(0, 100) : setWeights(100, 0))
        await sleep(150)
      }
    })()
    // When
    const report = await runKeepAliveLoad(url, { until: switching, concurrency: 8 })
    await switching
    // Then
    console.log(
      `[alb emulator] 10 switches under load: sent ${report.sent}, failed ${report.failed}, p99 ${report.p99Ms} ms, ${JSON.stringify(report.byPool)}`,
    )
    expect(report.failed, report.errors.join('; ')).toBe(0)
    expect(report.sent).toBeGreaterThan(200)
    expect(report.byPool.blue).toBeGreaterThan(0)
    expect(report.byPool.green).toBeGreaterThan(0)
  })
})
