import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startAlbEmulator, type AlbEmulator } from '../../src/local/alb/index.js'
import type { TargetRecord } from '../../src/local/alb/state.js'
import { freePort, waitFor } from '../support/process.js'
import {
  closeApps,
  fixtureConfig,
  setListenerWeights,
  sleep,
  startPoolApps,
  type PoolApps,
} from './alb-support.js'

describe('ALB emulator: health checks', () => {
  let apps: PoolApps
  let emulator: AlbEmulator | undefined

  beforeAll(async () => {
    apps = await startPoolApps(2)
  })
  afterEach(async () => {
    for (const app of [...apps.blue, ...apps.green]) app.setMode('ok')
    await emulator?.close()
    emulator = undefined
  })
  afterAll(async () => {
    await closeApps(apps)
  })

  function target(group: string, port: number): TargetRecord {
    const tg = emulator!.state.targetGroups.find((t) => t.name === group)!
    return [...tg.targets.values()].find((t) => t.port === port)!
  }

  it('starts targets as initial and makes them healthy after the healthy threshold of passed checks', async () => {
    // When
    const started = Date.now()
    emulator = await startAlbEmulator(fixtureConfig(apps))
    const first = target('shop-blue', apps.blue[0].port)
    // Then
    expect(first.health.state).toBe('initial')
    await waitFor(() => first.health.state === 'healthy', 5000, 'the target to be healthy')
    // Two passed checks, one interval (200 ms) apart
    expect(Date.now() - started).toBeGreaterThanOrEqual(180)
    expect(apps.blue[0].hosts.at(-1)).toBe(`127.0.0.1:${apps.blue[0].port}`)
  })

  it('marks a failing target unhealthy with ELBv2’s reason, and healthy again once it recovers', async () => {
    // Given
    emulator = await startAlbEmulator(fixtureConfig(apps))
    const victim = target('shop-blue', apps.blue[1].port)
    await waitFor(() => victim.health.state === 'healthy', 5000)
    // When
    apps.blue[1].setMode('status500')
    // Then
    await waitFor(() => victim.health.state === 'unhealthy', 5000, 'the target to be unhealthy')
    expect(victim.health).toEqual({
      state: 'unhealthy',
      reason: 'Target.ResponseCodeMismatch',
      description: 'Health checks failed with these codes: [500]',
    })
    expect(target('shop-blue', apps.blue[0].port).health.state).toBe('healthy')
    // When
    apps.blue[1].setMode('ok')
    // Then
    await waitFor(() => victim.health.state === 'healthy', 5000, 'the target to recover')
  })

  it('times out a target that does not answer, and fails one whose port is closed', async () => {
    // Given: one more green target on a port where nothing listens
    const closedPort = await freePort()
    emulator = await startAlbEmulator(
      fixtureConfig(apps, (config) => config.targetGroups[1].targets.push(`127.0.0.1:${closedPort}`)),
    )
    const hanging = target('shop-green', apps.green[0].port)
    await waitFor(() => hanging.health.state === 'healthy', 5000)
    // When
    apps.green[0].setMode('hang')
    // Then
    await waitFor(() => hanging.health.state === 'unhealthy', 5000, 'the hanging target to be unhealthy')
    expect(hanging.health.reason).toBe('Target.Timeout')
    const closed = target('shop-green', closedPort)
    expect(closed.health).toMatchObject({ state: 'unhealthy', reason: 'Target.FailedHealthChecks' })
  })

  it('checks only target groups that a listener or rule references; the others report unused', async () => {
    // Given: the listener and the rule forward to blue alone
    emulator = await startAlbEmulator(
      fixtureConfig(apps, (config) => {
        config.listeners[0].defaultAction = { targetGroup: 'shop-blue' }
        config.listeners[0].rules = []
      }),
    )
    const greenRequestsBefore = apps.green[0].requests
    await sleep(600)
    // Then: no health check reached green, and ELBv2 says why
    expect(apps.green[0].requests).toBe(greenRequestsBefore)
    const green = target('shop-green', apps.green[0].port)
    expect(green.health).toEqual({
      state: 'unused',
      reason: 'Target.NotInUse',
      description: 'Target group is not configured to receive traffic from the load balancer',
    })

    // When: green is attached at weight 0
    await setListenerWeights(emulator, { blue: 100, green: 0 })
    // Then: it is checked, and becomes healthy before it gets any traffic
    expect(green.health.state).toBe('initial')
    await waitFor(() => green.health.state === 'healthy', 5000, 'green to be healthy')
    expect(apps.green[0].requests).toBeGreaterThan(greenRequestsBefore)
  })
})
