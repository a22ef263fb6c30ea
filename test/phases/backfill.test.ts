/**
 * The backfill phase, called through its definition against a real PostgreSQL: it updates the
 * rows its WHERE selects in batches, and an interrupted run resumes where it stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withClient } from '../../src/db/client.js'
import type { ReleaseRecord } from '../../src/journal/journal.js'
import { phases } from '../../src/phases/index.js'
import { failure } from '../support/failure.js'
import { createTestDatabase } from '../support/postgres.js'
import { buildPlan, phaseHarness, tempFileJournal, wordsFor } from './context.js'

const backfill = phases.backfill
const config = {
  table: 'profiles',
  set: "first_name = split_part(name, ' ', 1)",
  where: 'first_name IS NULL',
  batchSize: 500,
}

let temp: Awaited<ReturnType<typeof tempFileJournal>>
beforeAll(async () => {
  temp = await tempFileJournal()
})
afterAll(() => temp.remove())

async function profilesDatabase(rows: number): Promise<string> {
  const url = await createTestDatabase('phase_backfill')
  await withClient(url, async (client) => {
    await client.query('CREATE TABLE profiles (id bigserial PRIMARY KEY, name text, first_name text)')
    await client.query(
      `INSERT INTO profiles (name) SELECT 'user' || g || ' smith' FROM generate_series(1, ${rows}) g`,
    )
    await client.query('ANALYZE profiles')
  })
  return url
}

const remaining = (url: string) =>
  withClient(url, async (client) => {
    const { rows } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM profiles WHERE first_name IS NULL',
    )
    return rows[0].n
  })

async function harnessFor(
  url: string,
  options: { signal?: AbortSignal; release?: ReleaseRecord; onProgress?: (m: string) => void } = {},
) {
  const plan = buildPlan({ database: { url }, phases: [{ backfill: config }] }, temp.dir)
  return phaseHarness('backfill', { plan, planDir: temp.dir, journal: temp.journal, ...options })
}

describe('backfill phase', () => {
  it('describes its statement and pace, and tells the contract what to check', async () => {
    // Given
    const parsed = backfill.schema.parse({ ...config, pause: '200ms', rowsPerSecond: 5000, key: ['id'] })
    const plan = buildPlan(
      { database: { url: 'postgres://localhost/shop' }, phases: [{ backfill: parsed }] },
      temp.dir,
    )
    // When
    const words = backfill.describe(parsed, wordsFor(plan))
    const checks = await backfill.contractChecks?.(parsed)
    // Then
    expect(words.summary).toBe(
      "UPDATE profiles SET first_name = split_part(name, ' ', 1) WHERE first_name IS NULL, 500 rows per batch",
    )
    expect(words.details).toEqual([
      'batches keyed by id',
      '200ms pause between batches',
      'at most 5000 rows/s',
      'resumable: rows already done no longer match the WHERE',
    ])
    expect(words.contractWords).toEqual([
      'its contract first checks that no row of profiles still matches first_name IS NULL',
    ])
    expect(checks).toEqual({
      backfills: [{ table: 'profiles', set: config.set, where: config.where, key: ['id'] }],
    })
    expect(backfill.schema.parse(config)).toMatchObject({ pause: '0ms' })
    expect(() => backfill.schema.parse({ ...config, batchSize: 0 })).toThrow()
  })

  it('updates every row its WHERE selects, in batches, and estimates the work for --dry-run', async () => {
    // Given 1200 rows to do
    const url = await profilesDatabase(1200)
    const harness = await harnessFor(url)
    const estimate = await withClient(url, (client) =>
      backfill.dryRun!(harness.ctx.config, {
        plan: harness.ctx.plan,
        planDir: temp.dir,
        client,
        applied: [],
      }),
    )
    // When
    const summary = await backfill.run(harness.ctx)
    await temp.journal.finishRelease(harness.release.id, { status: 'done' })
    // Then
    expect(estimate).toMatch(/^about \d+ rows to do \(estimate\)$/)
    expect(summary).toMatch(/^1200 rows of profiles in 3 batches \(longest batch .+\)$/)
    expect(await remaining(url)).toBe(0)
    const { rows } = await withClient(url, (client) =>
      client.query('SELECT first_name FROM profiles WHERE id = 7'),
    )
    expect(rows).toEqual([{ first_name: 'user7' }])
    expect(harness.progress.at(-1)).toMatch(/^1200\/1200 rows, \d+ rows\/s$/)
  })

  it('stops after the current batch when interrupted, and the next run resumes with the rest', async () => {
    // Given 2000 rows, and a run interrupted after its first batch
    const url = await profilesDatabase(2000)
    const controller = new AbortController()
    const first = await harnessFor(url, { signal: controller.signal, onProgress: () => controller.abort() })
    // When
    const error = await failure(backfill.run(first.ctx))
    const left = await remaining(url)
    // Then it stopped resumable, with one batch done
    expect(error).toMatchObject({ code: 'INTERRUPTED' })
    expect(left).toBe(1500)

    // When the release resumes, Then only the rest is done, and progress counts the earlier run
    const resumed = await harnessFor(url, { release: first.release })
    const summary = await backfill.run(resumed.ctx)
    await temp.journal.finishRelease(first.release.id, { status: 'done' })
    expect(summary).toMatch(/^1500 rows of profiles in \d+ batches/)
    expect(await remaining(url)).toBe(0)
    expect(resumed.progress[0]).toMatch(/^1000\/2000 rows/)
  })
})
