/**
 * The standby phase, called through its definition over a file journal: it promotes the release
 * with the plan's window (the new pool live, the old one the standby until the window ends), and
 * gives the engine that window through standbyWindowMs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { recordedLive } from '../../src/engine/standing.js'
import { phases } from '../../src/phases/index.js'
import { buildPlan, phaseHarness, tempFileJournal, wordsFor } from './context.js'

const standby = phases.standby
const hour = 3_600_000

describe('standby phase', () => {
  let temp: Awaited<ReturnType<typeof tempFileJournal>>
  beforeEach(async () => {
    temp = await tempFileJournal()
  })
  afterEach(() => temp.remove())

  it('describes the pool it keeps and gives the engine its window', () => {
    // Given
    const config = standby.schema.parse({ for: '90m' })
    const plan = buildPlan({ phases: [{ standby: config }] }, temp.dir)
    // When
    const toGreen = standby.describe(config, wordsFor(plan, { pool: 'green' }))
    const unknown = standby.describe(config, wordsFor(plan))
    // Then
    expect(toGreen.summary).toBe('keep pool blue running as the rollback target for 90m')
    expect(unknown.summary).toBe('keep the live pool running as the rollback target for 90m')
    expect(toGreen.durationMs).toBe(90 * 60_000)
    expect(standby.standbyWindowMs?.(config)).toBe(90 * 60_000)
    expect(() => standby.schema.parse({ for: 'an hour' })).toThrow(/duration/)
  })

  it('promotes the release with its window: new pool live, old pool the standby until the window ends', async () => {
    // Given blue is live on 1.0.0, and a release of 2.0.0 to green
    await temp.journal.setPools('shop', [{ ...recordedLive('blue', '1.0.0') }])
    const plan = buildPlan({ phases: [{ standby: { for: '1h' } }] }, temp.dir)
    const harness = await phaseHarness('standby', {
      plan,
      planDir: temp.dir,
      journal: temp.journal,
      to: 'green',
    })
    // When
    const before = Date.now()
    const summary = await standby.run(harness.ctx)
    // Then promote was asked with the window, and the journal says so
    expect(harness.promotions).toEqual([hour])
    expect(summary).toBe('blue (1.0.0) stays the rollback target for 1h')
    const pools = await temp.journal.pools('shop')
    expect(pools.green).toMatchObject({ standing: 'live', version: '2.0.0', releaseId: harness.release.id })
    expect(pools.blue).toMatchObject({ standing: 'standby', version: '1.0.0' })
    const until = Date.parse(pools.blue!.until!)
    expect(until).toBeGreaterThanOrEqual(before + hour)
    expect(until).toBeLessThanOrEqual(Date.now() + hour)
  })

  it('is idempotent: run again (a resume), it changes nothing', async () => {
    // Given blue live on 1.0.0 from an earlier release, and a standby step that already ran
    await temp.journal.setPools('shop', [
      { ...recordedLive('blue', '1.0.0'), releaseSeq: 1, releaseId: 'earlier-release' },
    ])
    const plan = buildPlan({ phases: [{ standby: { for: '1h' } }] }, temp.dir)
    const harness = await phaseHarness('standby', { plan, planDir: temp.dir, journal: temp.journal })
    await standby.run(harness.ctx)
    const first = await temp.journal.pools('shop')
    // When
    const summary = await standby.run(harness.ctx)
    // Then
    expect(summary).toBe('blue (1.0.0) stays the rollback target for 1h')
    expect(await temp.journal.pools('shop')).toEqual(first)
  })
})
