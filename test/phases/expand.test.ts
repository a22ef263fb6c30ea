/**
 * The expand phase, called through its definition against a real PostgreSQL: it lints and
 * applies the migration directory (skipping what is applied), installs the declared sync
 * trigger and brings existing rows in line, and refuses a file the linter flags before
 * applying anything.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withClient } from '../../src/db/client.js'
import type { ReleaseRecord } from '../../src/journal/journal.js'
import { phases } from '../../src/phases/index.js'
import { failure } from '../support/failure.js'
import { createTestDatabase } from '../support/postgres.js'
import {
  buildPlan,
  columns,
  nameSplit,
  stepRunner,
  tempFileJournal,
  validateAt,
  wordsFor,
} from './context.js'

const expand = phases.expand
const fixtures = join(import.meta.dirname, '../fixtures')

let temp: Awaited<ReturnType<typeof tempFileJournal>>
beforeAll(async () => {
  temp = await tempFileJournal()
})
afterAll(() => temp.remove())

/** A plan whose expand step applies `dir` (relative to test/fixtures) to the database at `url`. */
function planFor(url: string, config: object) {
  return buildPlan({ database: { url, lockTimeout: '500ms' }, phases: [{ expand: config }] }, fixtures)
}

async function runExpand(url: string, config: object, release?: ReleaseRecord) {
  const plan = planFor(url, config)
  const { harness, run } = await stepRunner('expand', {
    plan,
    planDir: fixtures,
    journal: temp.journal,
    release,
  })
  return { harness, result: run() }
}

describe('expand phase: words and load-time checks', () => {
  it('describes linting, the timeouts, the sync trigger and what its contract will check', () => {
    // Given
    const config = expand.schema.parse({ dir: 'sync/expand', sync: [nameSplit] })
    const plan = planFor('postgres://localhost/shop', config)
    // When
    const words = expand.describe(config, wordsFor(plan, { pool: 'green' }))
    // Then
    expect(config.lint).toBe(true)
    expect(words.target).toBe('database shop')
    expect(words.summary).toBe('lint, then apply the migrations in sync/expand')
    expect(words.details).toContain('lock_timeout 500ms per DDL attempt, up to 8 attempts')
    expect(words.details).toContainEqual(
      expect.stringMatching(
        /^then install trigger bluegreen_sync_shop_profiles_<release seq> on profiles \(BEFORE INSERT OR UPDATE\)/,
      ),
    )
    expect(words.contractWords).toEqual([
      'its contract first checks parity on profiles (first_name, last_name = forward(old) in every row), then drops the sync trigger before its SQL',
    ])
  })

  it('refuses at load a sync that sets a column both ways, a missing directory and an empty one', async () => {
    // Given
    const empty = await mkdtemp(join(tmpdir(), 'bluegreen-empty-'))
    try {
      const plan = buildPlan(
        {
          database: { url: 'postgres://localhost/shop' },
          phases: [
            { expand: { dir: 'sync/expand', sync: [{ ...nameSplit, backward: { first_name: 'name' } }] } },
            { expand: { dir: 'no/such/dir' } },
            { expand: { dir: empty } },
            { expand: { dir: empty, allowEmpty: true } },
          ],
        },
        fixtures,
      )
      const configs = plan.phases.map((entry) => (entry as { expand: never }).expand)
      // When
      const bothWays = expand.validate?.(configs[0], validateAt(plan, 0, fixtures)) ?? []
      const [missing, none, allowed] = await Promise.all(
        [1, 2, 3].map((i) => expand.checkFiles!(configs[i], validateAt(plan, i, fixtures))),
      )
      // Then
      expect(bothWays).toEqual([
        expect.objectContaining({
          path: ['phases', 0, 'expand', 'sync', 0, 'backward', 'first_name'],
          message: 'column first_name is set by both forward and backward',
        }),
      ])
      expect(missing).toEqual([
        expect.objectContaining({
          path: ['phases', 1, 'expand', 'dir'],
          message: `directory not found: ${join(fixtures, 'no/such/dir')}`,
        }),
      ])
      expect(none).toEqual([expect.objectContaining({ message: `no .sql file in ${empty}` })])
      expect(allowed).toEqual([])
    } finally {
      await rm(empty, { recursive: true, force: true })
    }
  })
})

describe('expand phase on PostgreSQL', () => {
  it('applies the migrations, installs the sync trigger and brings existing rows in line; a rerun does nothing', async () => {
    // Given a profiles table with rows written by the old version
    const url = await createTestDatabase('phase_expand')
    await withClient(url, async (client) => {
      await client.query('CREATE TABLE profiles (id bigserial PRIMARY KEY, name text)')
      await client.query("INSERT INTO profiles (name) VALUES ('Ada Lovelace'), ('Alan Turing'), ('Grace')")
    })
    // When
    const { harness, result } = await runExpand(url, { dir: 'sync/expand', sync: [nameSplit] })
    const summary = await result
    // Then the new columns exist and every old row has them filled through forward
    expect(summary).toBe('applied 1 migration; synced public.profiles (3 rows brought in line)')
    await withClient(url, async (client) => {
      expect(await columns(client, 'profiles')).toEqual(['id', 'name', 'first_name', 'last_name'])
      const { rows } = await client.query('SELECT name, first_name, last_name FROM profiles ORDER BY id')
      expect(rows).toEqual([
        { name: 'Ada Lovelace', first_name: 'Ada', last_name: 'Lovelace' },
        { name: 'Alan Turing', first_name: 'Alan', last_name: 'Turing' },
        { name: 'Grace', first_name: 'Grace', last_name: null },
      ])
      // And the trigger keeps both sides right: the new version writes first/last only
      await client.query("INSERT INTO profiles (first_name, last_name) VALUES ('Edsger', 'Dijkstra')")
      const { rows: added } = await client.query("SELECT name FROM profiles WHERE first_name = 'Edsger'")
      expect(added).toEqual([{ name: 'Edsger Dijkstra' }])
    })
    expect(harness.progress).toContainEqual(
      expect.stringMatching(/^public.profiles: sync trigger bluegreen_sync_shop_profiles_\d+ installed$/),
    )
    const audit = await temp.journal.auditLog('shop', 10)
    expect(audit).toContainEqual(expect.objectContaining({ action: 'sync.install', actor: 'phase-test' }))

    // When the same release runs it again (a resume), Then nothing is applied or installed twice
    const again = await runExpand(url, { dir: 'sync/expand', sync: [nameSplit] }, harness.release)
    expect(await again.result).toBe(
      'applied 0 migrations, 1 already applied; synced public.profiles (0 rows brought in line)',
    )
    expect(again.harness.progress.some((line) => line.includes('installed'))).toBe(false)
  })

  it('fills the rows before the trigger on a first release, but puts the trigger first after a step on a pool', async () => {
    for (const before of [[], [{ deploy: { run: ['true'] } }]]) {
      // Given rows the old version wrote, and a plan with (or without) a deploy before the expand
      const url = await createTestDatabase('phase_expand')
      await withClient(url, async (client) => {
        await client.query('CREATE TABLE profiles (id bigserial PRIMARY KEY, name text)')
        await client.query(
          "INSERT INTO profiles (name) SELECT 'first' || g || ' last' || g FROM generate_series(1, 500) g",
        )
      })
      const plan = buildPlan(
        {
          database: { url, lockTimeout: '500ms' },
          phases: [...before, { expand: { dir: 'sync/expand', sync: [nameSplit] } }],
        },
        fixtures,
      )
      const { harness, run } = await stepRunner('expand', { plan, planDir: fixtures, journal: temp.journal })
      // When the expand runs
      expect(await run()).toBe('applied 1 migration; synced public.profiles (500 rows brought in line)')
      // Then the first progress of the fill comes before the trigger without a deploy, after it with one
      const filled = harness.progress.findIndex((line) => line.includes('rows in line'))
      const installed = harness.progress.findIndex((line) => line.includes('sync trigger'))
      expect(filled, JSON.stringify(before)).toBeGreaterThanOrEqual(0)
      expect(installed, JSON.stringify(before)).toBeGreaterThanOrEqual(0)
      if (before.length === 0) expect(filled, 'no deploy before').toBeLessThan(installed)
      else expect(installed, 'a deploy before').toBeLessThan(filled)
    }
  })

  it('refuses a migration the linter flags, applying nothing (UNSAFE_MIGRATION)', async () => {
    // Given a directory whose first file adds a column and then renames one
    const url = await createTestDatabase('phase_expand_lint')
    await withClient(url, (client) =>
      client.query('CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL)'),
    )
    // When
    const { result } = await runExpand(url, { dir: 'sql/migrations/unsafe' })
    const error = await failure(result)
    // Then
    expect(error).toMatchObject({ code: 'UNSAFE_MIGRATION' })
    expect(error.message).toMatch(/unsafe changes? in the expand migrations; nothing was applied/)
    expect(error.details.join('\n')).toMatch(/001_rename\.sql:2:\d+: /)
    await withClient(url, async (client) => expect(await columns(client, 'accounts')).toEqual(['id', 'name']))

    // And with lint: false the same files are applied as written
    const unlinted = await runExpand(url, { dir: 'sql/migrations/unsafe', lint: false })
    expect(await unlinted.result).toBe('applied 2 migrations')
    await withClient(url, async (client) =>
      expect(await columns(client, 'accounts')).toEqual(['id', 'full_name', 'note']),
    )
  })
})
