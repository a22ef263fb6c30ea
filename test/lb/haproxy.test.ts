import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BluegreenError } from '../../src/errors.js'
import { createHaproxy } from '../../src/lb/haproxy.js'
import { parseRuntimeApi } from '../../src/lb/haproxy-runtime.js'
import { serverWeights } from '../../src/lb/server-weights.js'
import type { LoadBalancer } from '../../src/lb/types.js'
import { closeApps, startPoolApps, startTestApp, type PoolApps } from '../support/http-app.js'
import { startHaproxy, type TestHaproxy } from '../support/haproxy.js'
import { cookieClient, samplePools } from '../support/load.js'
import { haveBinary, waitFor } from '../support/process.js'
import { describeLoadBalancerContract } from './contract.js'

const startApps = () => startPoolApps(2, { blue: '1.0.0', green: '1.1.0' })

describe.runIf(haveBinary('haproxy'))('HAProxy adapter', () => {
  describeLoadBalancerContract('haproxy', async () => {
    const apps = await startApps()
    const haproxy = await startHaproxy({ apps, live: 'blue' })
    return {
      lb: createHaproxy(haproxy.config, haproxy.pools),
      apps,
      trafficUrl: haproxy.trafficUrl,
      supportsWeights: true,
      initialLive: 'blue',
      lossless: true,
      async teardown() {
        await haproxy.stop()
        await closeApps(apps)
      },
    }
  })

  describe('beyond the contract', () => {
    let apps: PoolApps
    let haproxy: TestHaproxy
    let lb: LoadBalancer

    beforeAll(async () => {
      apps = await startApps()
      haproxy = await startHaproxy({ apps, live: 'green' })
      lb = createHaproxy(haproxy.config, haproxy.pools)
    })
    afterAll(async () => {
      await haproxy?.stop()
      if (apps) await closeApps(apps)
    })

    it('keeps the live pool across an HAProxy restart (server-state file)', async () => {
      // Given: HAProxy's config says green, and we switch to blue at runtime
      await lb.shift('blue')
      // When
      await haproxy.restart()
      // Then
      expect((await lb.traffic()).live).toBe('blue')
      expect(await samplePools(haproxy.trafficUrl, 6)).toEqual({ blue: 6 })
    })

    it('speaks the runtime API over TCP as well as a unix socket', async () => {
      // Given
      const overTcp = createHaproxy({ ...haproxy.config, runtimeApi: haproxy.tcpRuntimeApi }, haproxy.pools)
      // When
      const result = await overTcp.shift('green', 25)
      // Then
      expect(result.after.weights).toEqual({ blue: 75, green: 25 })
      expect(await lb.traffic()).toEqual(result.after)
    })

    it('reports a failing health check with HAProxy’s reason', async () => {
      // Given
      apps.green[1].setMode('status500')
      try {
        // When
        await waitFor(
          async () => (await lb.targets('green')).some((t) => t.health === 'unhealthy'),
          3000,
          'the check to fail',
        )
        // Then
        const target = (await lb.targets('green')).find((t) => t.port === apps.green[1].port)
        expect(target).toMatchObject({ id: 'green2', health: 'unhealthy' })
        expect(target?.reason).toMatch(/L7STS 500/)
      } finally {
        apps.green[1].setMode('ok')
      }
    })

    it('refuses a shift to a pool whose servers an operator put in maintenance, changing nothing', async () => {
      // Given
      await lb.shift('blue')
      const { runtimeCommand } = await import('../../src/lb/haproxy-runtime.js')
      for (const name of ['green1', 'green2']) {
        await runtimeCommand(haproxy.config.runtimeApi, `set server shop/${name} state maint`)
      }
      try {
        // When
        const error = await lb.shift('green').catch((e: unknown) => e)
        // Then
        expect(error).toBeInstanceOf(BluegreenError)
        expect(error).toMatchObject({
          code: 'POOL_UNHEALTHY',
          message: expect.stringContaining('green1, green2'),
        })
        expect((error as BluegreenError).hint).toContain('state ready')
        expect((await lb.traffic()).weights).toEqual({ blue: 100, green: 0 })
      } finally {
        for (const name of ['green1', 'green2']) {
          await runtimeCommand(haproxy.config.runtimeApi, `set server shop/${name} state ready`)
        }
      }
    })

    it('names an unknown backend, an unknown server and a missing socket in actionable errors', async () => {
      // When / Then
      await expect(
        createHaproxy({ ...haproxy.config, backend: 'nope' }, haproxy.pools).traffic(),
      ).rejects.toMatchObject({
        code: 'LB_CONFIG',
        message: expect.stringContaining('no backend "nope"'),
        hint: expect.stringContaining('show backend'),
      })
      const wrongServer = { ...haproxy.pools, green: { servers: ['green1', 'green9'] } }
      await expect(createHaproxy(haproxy.config, wrongServer).shift('green')).rejects.toMatchObject({
        code: 'LB_CONFIG',
        message: expect.stringContaining('no server named green9'),
      })
      const missing = `${haproxy.prefix}/missing.sock`
      await expect(
        createHaproxy({ ...haproxy.config, runtimeApi: missing }, haproxy.pools).traffic(),
      ).rejects.toMatchObject({
        code: 'LB_UNREACHABLE',
        hint: expect.stringContaining('stats socket'),
      })
    })
  })

  describe.each(['cookie', 'table'] as const)('sticky clients (%s persistence)', (sticky) => {
    let apps: PoolApps
    let haproxy: TestHaproxy
    let lb: LoadBalancer

    beforeAll(async () => {
      apps = await startApps()
      haproxy = await startHaproxy({ apps, live: 'blue', sticky })
      lb = createHaproxy(haproxy.config, haproxy.pools)
      await lb.waitHealthy('green', { timeoutMs: 5000, intervalMs: 50 })
    })
    afterAll(async () => {
      await haproxy?.stop()
      if (apps) await closeApps(apps)
    })

    const healthy = (pool: 'blue' | 'green') => lb.waitHealthy(pool, { timeoutMs: 5000, intervalMs: 50 })

    /** A client HAProxy has made sticky to green, with blue healthy and ready to roll back to. */
    async function stuckToGreen() {
      await healthy('green')
      await lb.shift('green', 100, { stickyClients: 'move' })
      await healthy('blue')
      const client = cookieClient(haproxy.trafficUrl)
      expect(await client.get()).toBe('green')
      return client
    }

    it('a forward switch leaves sticky clients where they are, as HAProxy drains', async () => {
      // Given
      await lb.shift('blue', 100, { stickyClients: 'move' })
      await healthy('green')
      const client = cookieClient(haproxy.trafficUrl)
      expect(await client.get()).toBe('blue')
      // When
      const result = await lb.shift('green', 100, { stickyClients: 'stay' })
      // Then: HAProxy serves persistent clients at weight 0; new clients go to green
      expect(result.notes ?? []).toEqual([])
      expect([await client.get(), await client.get()]).toEqual(['blue', 'blue'])
      if (sticky === 'cookie') expect(await samplePools(haproxy.trafficUrl, 4)).toEqual({ green: 4 })
    })

    it('a rollback moves every client, sticky ones too, and says how', async () => {
      // Given
      const client = await stuckToGreen()
      // When
      const result = await lb.shift('blue', 100, { stickyClients: 'move' })
      // Then
      expect(result.after.live).toBe('blue')
      expect([await client.get(), await client.get(), await client.get()]).toEqual(['blue', 'blue', 'blue'])
      expect(result.notes?.join('\n')).toMatch(
        sticky === 'cookie' ? /SRV cookie.*maintenance/ : /stick-table shop/,
      )
    })

    it('a rollback resumed after its weights moved still moves the sticky clients', async () => {
      // Given: the weights are back on blue, but the sticky client still reaches green
      const client = await stuckToGreen()
      const { runtimeCommand } = await import('../../src/lb/haproxy-runtime.js')
      for (const [name, weight] of [
        ['blue1', 1],
        ['blue2', 1],
        ['green1', 0],
        ['green2', 0],
      ] as const)
        await runtimeCommand(haproxy.config.runtimeApi, `set server shop/${name} weight ${weight}`)
      expect(await client.get()).toBe('green')
      // When
      const result = await lb.shift('blue', 100, { stickyClients: 'move' })
      // Then
      expect(result.changed).toBe(false)
      expect([await client.get(), await client.get()]).toEqual(['blue', 'blue'])
    })

    if (sticky === 'cookie')
      it('a switch straight back to the rolled-back pool is refused, saying the deploy brings it back', async () => {
        // Given: a rollback away from green (no deploy since, so green is unchecked)
        await stuckToGreen()
        await lb.shift('blue', 100, { stickyClients: 'move' })
        // When
        const error = await lb.shift('green', 100, { stickyClients: 'stay' }).catch((e: unknown) => e)
        // Then
        expect(error).toMatchObject({ code: 'POOL_UNHEALTHY', hint: expect.stringContaining('deploy phase') })
        expect((await lb.traffic()).weights).toEqual({ blue: 100, green: 0 })
      })

    // Only cookies are broken by maintenance; a stick-table's entries are cleared whatever the state.
    if (sticky === 'cookie')
      it('a rollback moves sticky clients off drained servers too', async () => {
        // Given: an operator drained green (weight 0 in effect, but HAProxy still serves its cookies)
        const client = await stuckToGreen()
        const { runtimeCommand } = await import('../../src/lb/haproxy-runtime.js')
        for (const name of ['green1', 'green2'])
          await runtimeCommand(haproxy.config.runtimeApi, `set server shop/${name} state drain`)
        expect(await client.get()).toBe('green')
        // When
        await lb.shift('blue', 100, { stickyClients: 'move' })
        // Then: moved, and the next deploy still brings green back
        expect([await client.get(), await client.get()]).toEqual(['blue', 'blue'])
        expect((await healthy('green')).map((t) => t.health)).toEqual(['healthy', 'healthy'])
      })

    it('the next deploy to the rolled-back pool finds it healthy again, and the switch to it works', async () => {
      // Given: a rollback away from green
      await stuckToGreen()
      await lb.shift('blue', 100, { stickyClients: 'move' })
      // When: the deploy phase waits for green to be healthy
      const targets = await healthy('green')
      // Then
      expect(targets.map((t) => t.health)).toEqual(['healthy', 'healthy'])
      const result = await lb.shift('green', 100, { stickyClients: 'stay' })
      expect(result.after.live).toBe('green')
      expect(await samplePools(haproxy.trafficUrl, 4)).toEqual({ green: 4 })
    })
  })

  describe('pools of different sizes', () => {
    it('maps percentages to per-server weights that keep the pools’ ratio', () => {
      expect(serverWeights({ blue: 100, green: 0 }, { blue: 2, green: 2 }, 256)).toEqual({
        blue: 1,
        green: 0,
      })
      expect(serverWeights({ blue: 50, green: 50 }, { blue: 2, green: 1 }, 256)).toEqual({
        blue: 1,
        green: 2,
      })
      expect(serverWeights({ blue: 90, green: 10 }, { blue: 3, green: 2 }, 256)).toEqual({
        blue: 6,
        green: 1,
      })
      // 1% of 300 servers cannot be exact within 0..256: scaled, never rounded down to 0.
      expect(serverWeights({ blue: 99, green: 1 }, { blue: 1, green: 300 }, 256)).toEqual({
        blue: 256,
        green: 1,
      })
    })

    it('splits 50/50 between two blue servers and one green server', async () => {
      // Given
      const apps = {
        blue: await Promise.all([1, 2].map(() => startTestApp({ pool: 'blue', version: '1' }))),
        green: [await startTestApp({ pool: 'green', version: '2' })],
      }
      const haproxy = await startHaproxy({ apps, live: 'blue' })
      try {
        const lb = createHaproxy(haproxy.config, haproxy.pools)
        // When
        const result = await lb.shift('green', 50)
        // Then
        expect(result.after.weights).toEqual({ blue: 50, green: 50 })
        const sample = await samplePools(haproxy.trafficUrl, 40)
        expect(sample.green).toBeGreaterThanOrEqual(16)
        expect(sample.green).toBeLessThanOrEqual(24)
      } finally {
        await haproxy.stop()
        await closeApps(apps)
      }
    })
  })

  it('reads the runtime API address as a unix socket or host:port', () => {
    expect(parseRuntimeApi('unix:/run/haproxy.sock')).toEqual({ path: '/run/haproxy.sock' })
    expect(parseRuntimeApi('/run/haproxy/admin.sock')).toEqual({ path: '/run/haproxy/admin.sock' })
    expect(parseRuntimeApi('127.0.0.1:9999')).toEqual({ host: '127.0.0.1', port: 9999 })
    expect(parseRuntimeApi('[::1]:9999')).toEqual({ host: '::1', port: 9999 })
  })
})
