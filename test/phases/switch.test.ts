/**
 * The switch phase, called through its definition against a real HAProxy: a stepped switch
 * moves the weights step by step, a resumed one skips the steps already reached, and a pool
 * that turns unhealthy between steps stops it with SWITCH_FAILED.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { EngineEvent } from '../../src/events.js'
import { phases } from '../../src/phases/index.js'
import { failure } from '../support/failure.js'
import { samplePools } from '../support/load.js'
import { haveBinary, waitFor } from '../support/process.js'
import {
  buildPlan,
  startHaproxyFixture,
  stepRunner,
  tempFileJournal,
  wordsFor,
  type HaproxyFixture,
  type PhaseHarnessOptions,
} from './context.js'

const switchPhase = phases.switch

describe.runIf(haveBinary('haproxy'))('switch phase', () => {
  let stack: HaproxyFixture
  let temp: Awaited<ReturnType<typeof tempFileJournal>>

  beforeAll(async () => {
    stack = await startHaproxyFixture(2, { blue: '1.0.0', green: '2.0.0' })
    temp = await tempFileJournal()
  })
  afterAll(async () => {
    await stack?.stop()
    await temp?.remove()
  })
  beforeEach(async () => {
    // Blue live, every target healthy.
    for (const app of [...stack.apps.blue, ...stack.apps.green]) app.setMode('ok')
    await stack.lb.shift('blue', 100)
    await waitFor(
      async () => (await stack.lb.targets('green')).every((t) => t.health === 'healthy'),
      5000,
      'green up',
    )
  })

  async function harnessFor(config: object, options: Partial<PhaseHarnessOptions> = {}) {
    const plan = buildPlan({ ...stack.sections, phases: [{ switch: config }] }, temp.dir)
    return stepRunner('switch', { plan, planDir: temp.dir, journal: temp.journal, lb: stack.lb, ...options })
  }

  const switchWeights = (events: EngineEvent[]) =>
    events.flatMap((e) => (e.type === 'switch' ? [e.weights.green] : []))

  it('describes its steps and refuses steps that do not climb to 100', () => {
    // Given
    const config = switchPhase.schema.parse({ steps: [25, 50, 100], interval: '30s' })
    const plan = buildPlan(
      { loadBalancer: stack.haproxy.config, pools: stack.haproxy.pools, phases: [{ switch: config }] },
      temp.dir,
    )
    // When
    const words = switchPhase.describe(config, wordsFor(plan, { pool: 'green' }))
    // Then
    expect(words.summary).toBe('shift traffic to pool green: 25% → 50% → 100%, 30s apart')
    expect(words.details[0]).toBe(
      `haproxy backend shop via the runtime API at ${stack.haproxy.config.runtimeApi} (weights change, no reload; ` +
        'a rollback moves sticky clients too: with a persistence cookie the old pool is in maintenance until the next deploy, stick-table entries for it are cleared)',
    )
    expect(words.durationMs).toBe(60_000)
    expect(switchPhase.schema.parse({}).steps).toEqual([100])
    // A switch may stop short (before an approve step); the plan's last switch must reach 100.
    const short = switchPhase.schema.parse({ steps: [50, 90] })
    const at = (phases: object[]) =>
      ({ path: ['phases', 0, 'switch'], plan: { phases }, planDir: '.', offsetOfText: () => 0 }) as never
    expect(switchPhase.validate!(short, at([{ switch: short }]))[0]?.message).toMatch(
      /the last step of the plan's last switch must be 100/,
    )
    expect(switchPhase.validate!(short, at([{ switch: short }, { switch: config }]))).toEqual([])
    expect(() => switchPhase.schema.parse({ steps: [50, 25, 100] })).toThrow(/steps must increase/)
  })

  it('moves traffic to the new pool step by step, checking its health between steps', async () => {
    // Given blue gets all the traffic
    const { harness, run } = await harnessFor({ steps: [25, 50, 100], interval: '200ms' })
    const weightsSeen: number[] = []
    harness.ctx.progress = (message) => {
      harness.progress.push(message)
      void stack.lb.traffic().then((t) => weightsSeen.push(t.weights.green))
    }
    // When
    const summary = await run()
    // Then every step was made in order and HAProxy now sends everything to green
    expect(switchWeights(harness.events)).toEqual([25, 50, 100])
    expect(harness.progress).toEqual(['green 25% / blue 75%', 'green 50% / blue 50%', 'green 100% / blue 0%'])
    expect(summary).toBe('switched to green (25% → 50% → 100%)')
    expect(await stack.lb.traffic()).toMatchObject({ live: 'green', split: false })
    expect(await samplePools(stack.haproxy.trafficUrl, 8)).toEqual({ green: 8 })
    await waitFor(() => weightsSeen.length === 3, 2000, 'traffic reads')
    expect(weightsSeen[0]).toBe(25)
  })

  it('on resume skips the steps already reached, and does nothing when the pool already has all traffic', async () => {
    // Given a switch that crashed after reaching 50%
    await stack.lb.shift('green', 50)
    const resumed = await harnessFor({ steps: [25, 50, 100], interval: '100ms' })
    // When
    const summary = await resumed.run()
    // Then only the 100% step was made
    expect(switchWeights(resumed.harness.events)).toEqual([100])
    expect(summary).toBe('switched to green (100%)')

    // And when it runs once more, nothing changes
    const again = await harnessFor({ steps: [25, 50, 100] })
    expect(await again.run()).toBe('green already gets 100% of traffic; nothing to switch')
    expect(again.harness.events).toEqual([
      expect.objectContaining({ type: 'switch', changed: false, weights: { blue: 0, green: 100 } }),
    ])
  })

  it('stops with SWITCH_FAILED when the new pool turns unhealthy between steps', async () => {
    // Given green starts failing its health checks right after the first step
    const { run } = await harnessFor(
      { steps: [25, 100], interval: '1s' },
      {
        onProgress: (message) => {
          if (message.startsWith('green 25%')) stack.apps.green[1].setMode('status500')
        },
      },
    )
    // When
    const error = await failure(run())
    // Then the switch stopped at 25%, naming the sick target; traffic did not go further
    expect(error).toMatchObject({ code: 'SWITCH_FAILED' })
    expect(error.message).toBe('pool green became unhealthy at 25% of traffic')
    expect(error.details).toEqual([expect.stringMatching(/^green2 127\.0\.0\.1:\d+ unhealthy/)])
    expect((await stack.lb.traffic()).weights).toEqual({ blue: 75, green: 25 })
  })
})
