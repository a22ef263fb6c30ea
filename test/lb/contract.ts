/**
 * The contract every LoadBalancer adapter keeps, run against a real load balancer (or the local
 * ELBv2 emulator) with real app servers behind it. Each adapter's test file calls
 * describeLoadBalancerContract with a fixture; the tests share that fixture and run in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BluegreenError } from '../../src/errors.js'
import { otherPool, type LoadBalancer, type PoolName } from '../../src/lb/types.js'
import { startTestApp, type TestApp } from '../support/http-app.js'
import { runKeepAliveLoad, samplePools } from '../support/load.js'
import { waitFor } from '../support/process.js'

export interface ContractFixture {
  lb: LoadBalancer
  /**
   * The app servers behind each pool. The suite may stop one app and restart it on the same port,
   * replacing its entry in this array, so teardown must close the apps found here at teardown time.
   */
  apps: { blue: TestApp[]; green: TestApp[] }
  /** URL of the load balancer's front end that serves production traffic */
  trafficUrl: string
  supportsWeights: boolean
  /** the pool live at start */
  initialLive: PoolName
  /** True when a switch must not fail a single request of a keep-alive client. */
  lossless: boolean
  /** How long the load balancer needs to notice that a target stopped or came back (default 3000 ms). */
  healthTimeoutMs?: number
  teardown(): Promise<void>
}

const switchesUnderLoad = 10

export function describeLoadBalancerContract(name: string, setup: () => Promise<ContractFixture>): void {
  describe(`LoadBalancer contract: ${name}`, () => {
    let fixture: ContractFixture
    let lb: LoadBalancer
    let live: PoolName
    let inactive: PoolName
    const extraApps: TestApp[] = []

    beforeAll(async () => {
      fixture = await setup()
      lb = fixture.lb
      live = fixture.initialLive
      inactive = otherPool(live)
    })

    afterAll(async () => {
      await fixture?.lb.close()
      await fixture?.teardown()
      // Closing twice is harmless; this catches a restarted app a fixture's teardown missed.
      await Promise.all(extraApps.map((app) => app.close()))
    })

    /** Waits until production answers from `pool` alone (providers may apply a change asynchronously). */
    async function expectProductionOn(pool: PoolName): Promise<void> {
      await waitFor(
        async () => (await samplePools(fixture.trafficUrl, 4))[pool] === 4,
        5000,
        `production to answer from ${pool}`,
      )
      expect(await samplePools(fixture.trafficUrl, 10)).toEqual({ [pool]: 10 })
    }

    it('reads the live pool from the load balancer, and production answers from it', async () => {
      // When
      const traffic = await lb.traffic()
      // Then
      expect(traffic).toEqual({ live, weights: { [live]: 100, [inactive]: 0 }, split: false })
      expect(await samplePools(fixture.trafficUrl, 10)).toEqual({ [live]: 10 })
    })

    it('lists each pool’s targets with address, port and health, the inactive pool included', async () => {
      for (const pool of [live, inactive]) {
        // When
        const targets = await lb.waitHealthy(pool, {
          timeoutMs: fixture.healthTimeoutMs ?? 3000,
          intervalMs: 100,
        })
        // Then
        const expected = fixture.apps[pool].map((app) => ({
          address: app.address,
          port: app.port,
          health: 'healthy',
        }))
        expect(targets.map((t) => ({ address: t.address, port: t.port, health: t.health }))).toEqual(
          expect.arrayContaining(expected),
        )
        expect(targets).toHaveLength(expected.length)
        expect(targets.every((t) => t.id.length > 0)).toBe(true)
        expect(await lb.targets(pool)).toHaveLength(expected.length)
      }
    })

    it('switches to the other pool, and production answers from it', async () => {
      // Given
      const appRequestsBefore = sum(fixture.apps[inactive])
      // When
      const result = await lb.shift(inactive)
      // Then
      expect(result.changed).toBe(true)
      expect(result.before.live).toBe(live)
      expect(result.after).toEqual({ live: inactive, weights: { [inactive]: 100, [live]: 0 }, split: false })
      expect(await lb.traffic()).toEqual(result.after)
      await expectProductionOn(inactive)
      expect(sum(fixture.apps[inactive])).toBeGreaterThan(appRequestsBefore)
      ;[live, inactive] = [inactive, live]
    })

    it('changes nothing when asked to switch to the pool that is already live', async () => {
      // Given
      const before = await lb.traffic()
      // When
      const result = await lb.shift(live)
      // Then
      expect(result.changed).toBe(false)
      expect(result.before).toEqual(before)
      expect(result.after).toEqual(before)
      expect(await lb.traffic()).toEqual(before)
      await expectProductionOn(live)
    })

    it('sends a weighted share to each pool during a stepped switch (or refuses, without weights)', async () => {
      if (!fixture.supportsWeights) {
        // When / Then: a provider without weights must say so rather than switch everything
        await expect(lb.shift(inactive, 50)).rejects.toBeInstanceOf(BluegreenError)
        expect((await lb.traffic()).live).toBe(live)
        return
      }
      // When: a first small step
      const small = await lb.shift(inactive, 10)
      // Then
      expect(small.changed).toBe(true)
      expect(small.after).toEqual({ live, weights: { [inactive]: 10, [live]: 90 }, split: true })
      expect(await lb.traffic()).toEqual(small.after)

      // When: half of the traffic
      const half = await lb.shift(inactive, 50)
      // Then: reported as a split, and both pools really answer
      expect(half.after.weights).toEqual({ blue: 50, green: 50 })
      expect(half.after.split).toBe(true)
      expect(await lb.traffic()).toEqual(half.after)
      let sample: Record<string, number> = {}
      await waitFor(
        async () => {
          sample = await samplePools(fixture.trafficUrl, 60)
          return (sample[inactive] ?? 0) >= 9 && (sample[live] ?? 0) >= 9
        },
        5000,
        'both pools to answer',
      )
      expect((sample.blue ?? 0) + (sample.green ?? 0)).toBe(60)

      // When: back to all traffic on the live pool
      const back = await lb.shift(live)
      // Then
      expect(back.after).toEqual({ live, weights: { [live]: 100, [inactive]: 0 }, split: false })
      await expectProductionOn(live)
    })

    it(`switches ${switchesUnderLoad} times under keep-alive load`, async () => {
      // Given: a client sending requests over keep-alive connections throughout
      const switching = (async () => {
        await sleep(300)
        for (let i = 0; i < switchesUnderLoad; i++) {
          const result = await lb.shift(i % 2 === 0 ? inactive : live)
          expect(result.changed).toBe(true)
          await sleep(250)
        }
      })()
      // When
      const report = await runKeepAliveLoad(fixture.trafficUrl, { until: switching, concurrency: 8 })
      await switching
      // Then
      console.log(
        `[contract ${name}] ${switchesUnderLoad} switches under load: sent ${report.sent}, failed ${report.failed}` +
          ` (p99 ${report.p99Ms} ms; by pool ${JSON.stringify(report.byPool)})` +
          (report.errors.length > 0 ? `; errors: ${report.errors.join('; ')}` : ''),
      )
      expect(report.sent).toBeGreaterThan(100)
      expect(report.byPool[live]).toBeGreaterThan(0)
      expect(report.byPool[inactive]).toBeGreaterThan(0)
      if (fixture.lossless) expect(report.failed, report.errors.join('; ')).toBe(0)
      expect((await lb.traffic()).live).toBe(live)
    })

    it('times out with an actionable error while a target is down, and recovers when it is back', async () => {
      // Given: one target of the inactive pool stopped, and the load balancer has noticed
      const apps = fixture.apps[inactive]
      const victim = apps[0]
      await victim.close()
      const healthOfVictim = async () =>
        (await lb.targets(inactive)).find((t) => t.port === victim.port)?.health
      await waitFor(
        async () => (await healthOfVictim()) !== 'healthy',
        fixture.healthTimeoutMs ?? 3000,
        'the load balancer to see the stopped target',
      )
      // When
      const timeoutMs = 1000
      const started = Date.now()
      const error: unknown = await lb
        .waitHealthy(inactive, { timeoutMs, intervalMs: 100 })
        .catch((e: unknown) => e)
      // Then
      expect(error).toBeInstanceOf(BluegreenError)
      const failure = error as BluegreenError
      expect(failure.code).toBe('POOL_UNHEALTHY')
      expect(failure.message).toContain(inactive)
      expect(failure.hint ?? '').not.toBe('')
      expect(failure.details.join('\n')).toContain(String(victim.port))
      expect(Date.now() - started).toBeGreaterThanOrEqual(timeoutMs - 200)
      expect(await healthOfVictim()).not.toBe('healthy')

      // When: the target comes back on the same address
      const revived = await startTestApp({ pool: victim.pool, version: victim.version, port: victim.port })
      extraApps.push(revived)
      apps[0] = revived
      // Then
      const targets = await lb.waitHealthy(inactive, {
        timeoutMs: fixture.healthTimeoutMs ?? 3000,
        intervalMs: 100,
      })
      expect(targets).toHaveLength(apps.length)
    })
  })
}

function sum(apps: TestApp[]): number {
  return apps.reduce((total, app) => total + app.requests, 0)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
