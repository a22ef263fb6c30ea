/**
 * The contract phase, called through its definition with the PostgreSQL journal (its contract
 * ledger) and a real HAProxy (whose traffic the safety rule reads): a release records its own
 * contract as pending, a later release runs it once no pool can still run the release before,
 * and a contract whose sync parity fails waits (the phase) or is refused with CONTRACT_UNSAFE
 * (`bluegreen contract`, through runDueContracts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withClient } from '../../src/db/client.js'
import { asCandidate, promoted, recordedLive } from '../../src/engine/standing.js'
import type { Journal, ReleaseRecord } from '../../src/journal/journal.js'
import { withPostgresJournal } from '../../src/journal/postgres.js'
import { runDueContracts } from '../../src/phases/contract-run.js'
import { phases } from '../../src/phases/index.js'
import { failure } from '../support/failure.js'
import { createTestDatabase } from '../support/postgres.js'
import { haveBinary } from '../support/process.js'
import {
  buildPlan,
  columns,
  nameSplit,
  phaseHarness,
  startHaproxyFixture,
  wordsFor,
  type HaproxyFixture,
  type RawPlan,
} from './context.js'

const contract = phases.contract
const fixtures = join(import.meta.dirname, '../fixtures')

describe('contract phase: words', () => {
  it('describes its own directory and what the other steps make it check first', () => {
    // Given a plan whose expand declares a sync and whose backfill fills a column
    const plan = buildPlan(
      {
        database: { url: 'postgres://localhost/shop' },
        phases: [
          { expand: { dir: 'sync/expand', sync: [nameSplit] } },
          { backfill: { table: 'orders', set: 'total_cents = total * 100', where: 'total_cents IS NULL' } },
          { contract: { dir: 'sync/contract', notBefore: '14d' } },
        ],
      },
      fixtures,
    )
    const config = contract.schema.parse({ dir: 'sync/contract', notBefore: '14d' })
    // When
    const words = contract.describe(config, wordsFor(plan, { pool: 'green' }))
    // Then
    expect(words.target).toBe('database shop')
    expect(words.summary).toBe(
      'run earlier releases’ contract migrations that are now safe; record sync/contract as pending, due 14d after this release',
    )
    expect(words.details).toEqual([
      'a contract runs only once no pool can still run the release before it',
      'its contract first checks parity on profiles (first_name, last_name = forward(old) in every row), then drops the sync trigger before its SQL',
      'its contract first checks that no row of orders still matches total_cents IS NULL',
    ])
    expect(contract.rollbackOnFailure).toBe(false)
  })
})

describe.runIf(haveBinary('haproxy'))('contract phase on PostgreSQL', () => {
  let stack: HaproxyFixture
  const dirs: string[] = []

  beforeAll(async () => {
    stack = await startHaproxyFixture(1, { blue: '1.0.0', green: '2.0.0' })
  })
  afterAll(async () => {
    await stack?.stop()
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
  })

  /** The pools after a release to `to` passed verify: HAProxy sends it everything, the journal says live. */
  async function promote(journal: Journal, release: ReleaseRecord): Promise<void> {
    await stack.lb.shift(release.to, 100)
    await journal.setPools('shop', promoted(await journal.pools('shop'), release, undefined))
    await journal.finishRelease(release.id, { status: 'done' })
  }

  /** The next release's deploy began: the standby is replaced, so nothing runs the old version. */
  async function deployBegan(journal: Journal, release: ReleaseRecord): Promise<void> {
    await journal.setPools('shop', [asCandidate(release)])
  }

  function harnessFor(
    journal: Journal,
    raw: RawPlan,
    planDir: string,
    release: { version: string; to: 'blue' | 'green' } | ReleaseRecord,
  ) {
    const plan = buildPlan(raw, planDir)
    return 'id' in release
      ? phaseHarness('contract', { plan, planDir, journal, lb: stack.lb, release })
      : phaseHarness('contract', { plan, planDir, journal, lb: stack.lb, ...release })
  }

  it('records its own contract as pending, waits while the standby still runs the old version, and runs it in the next release', async () => {
    // Given a database whose accounts table has a column the new version no longer uses,
    // and a contract directory that drops it
    const url = await createTestDatabase('phase_contract')
    await withClient(url, (c) => c.query('CREATE TABLE accounts (id bigint PRIMARY KEY, legacy text)'))
    const dir = await mkdtemp(join(tmpdir(), 'bluegreen-contract-'))
    dirs.push(dir)
    await writeFile(join(dir, '001_drop_legacy.sql'), 'ALTER TABLE accounts DROP COLUMN legacy;\n')
    const raw: RawPlan = {
      database: { url, lockTimeout: '500ms' },
      ...stack.sections,
      phases: [{ contract: { dir } }],
    }
    await stack.lb.shift('blue', 100)

    await withPostgresJournal(url, async (journal) => {
      await journal.setPools('shop', [recordedLive('blue', '1.0.0')])
      // When release 2.0.0 (to green) reaches its contract step
      const first = await harnessFor(journal, raw, dir, { version: '2.0.0', to: 'green' })
      await stack.lb.shift('green', 100)
      const recorded = await contract.run(first.ctx)
      // Then its own contract is pending and nothing was dropped
      expect(recorded).toBe("no earlier contract was due; recorded 1 of 2.0.0's own as pending")
      expect(await journal.contracts.pending('shop')).toEqual([
        expect.objectContaining({
          release: first.release.id,
          version: '2.0.0',
          files: [expect.objectContaining({ file: '001_drop_legacy.sql' })],
        }),
      ])
      await promote(journal, first.release)

      // When the step runs again (a resume) while blue, the standby, still runs 1.0.0
      const resumed = await contract.run((await harnessFor(journal, raw, dir, first.release)).ctx)
      // Then the contract waits, saying why, and is recorded once
      expect(resumed).toBe(
        "no earlier contract was due; 1 still waiting; recorded 1 of 2.0.0's own as pending",
      )
      expect(await journal.contracts.pending('shop')).toHaveLength(1)

      // When release 3.0.0 has replaced blue with its deploy and reaches its contract step
      const second = await harnessFor(journal, raw, dir, { version: '3.0.0', to: 'blue' })
      await deployBegan(journal, second.release)
      const ran = await contract.run(second.ctx)
      // Then 2.0.0's contract ran: the column is gone, the ledger and the audit log say so
      expect(ran).toBe('ran contract of 2.0.0')
      await withClient(url, async (c) => expect(await columns(c, 'accounts')).toEqual(['id']))
      expect(await journal.contracts.pending('shop')).toEqual([])
      expect(await journal.contracts.applied('shop')).toEqual([expect.objectContaining({ version: '2.0.0' })])
      expect(second.events).toContainEqual(
        expect.objectContaining({ type: 'contract.run', version: '2.0.0', files: ['001_drop_legacy.sql'] }),
      )
      expect(await journal.auditLog('shop', 5)).toContainEqual(
        expect.objectContaining({ action: 'contract', detail: "ran 2.0.0's contract: 001_drop_legacy.sql" }),
      )
    })
  })

  it('does not drop a column whose sync parity fails: the phase waits, `bluegreen contract` refuses (CONTRACT_UNSAFE)', async () => {
    // Given release 2.0.0 split profiles.name through a sync, and recorded its contract (drop name)
    const url = await createTestDatabase('phase_contract_parity')
    await withClient(url, async (c) => {
      await c.query('CREATE TABLE profiles (id bigserial PRIMARY KEY, name text)')
      await c.query("INSERT INTO profiles (name) VALUES ('Ada Lovelace'), ('Alan Turing')")
    })
    const raw: RawPlan = {
      database: { url, lockTimeout: '500ms' },
      ...stack.sections,
      phases: [{ expand: { dir: 'sync/expand', sync: [nameSplit] } }, { contract: { dir: 'sync/contract' } }],
    }
    await stack.lb.shift('blue', 100)
    await withPostgresJournal(url, async (journal) => {
      await journal.setPools('shop', [recordedLive('blue', '1.0.0')])
      const first = await harnessFor(journal, raw, fixtures, { version: '2.0.0', to: 'green' })
      const plan = buildPlan(raw, fixtures)
      await phases.expand.run(
        (
          await phaseHarness('expand', {
            plan,
            planDir: fixtures,
            journal,
            lb: stack.lb,
            release: first.release,
          })
        ).ctx,
      )
      await contract.run(first.ctx)
      await promote(journal, first.release)
      // And a row written past the trigger, so first_name no longer follows from name
      await withClient(url, async (c) => {
        await c.query("SET bluegreen.sync = 'off'")
        await c.query("UPDATE profiles SET first_name = 'Augusta' WHERE id = 1")
      })

      // When release 3.0.0 has replaced blue and reaches its contract step
      const second = await harnessFor(journal, raw, fixtures, { version: '3.0.0', to: 'blue' })
      await deployBegan(journal, second.release)
      const summary = await contract.run(second.ctx)
      // Then 2.0.0's contract waits, saying which rows differ; name is still there
      expect(summary).toMatch(/^no earlier contract was due; 1 still waiting/)
      const wait = second.events.find((e) => e.type === 'contract.wait') as
        { version: string; reason: string } | undefined
      expect(wait?.version).toBe('2.0.0')
      expect(wait?.reason).toMatch(
        /would drop data not yet carried over: sync of (public\.)?profiles: 1 row where first_name, last_name differ from forward\(old\)/,
      )
      await withClient(url, async (c) => expect(await columns(c, 'profiles')).toContain('name'))

      // When `bluegreen contract` runs it (refuse on unsafe), Then CONTRACT_UNSAFE, with the key
      const error = await failure(runDueContracts(second.ctx, { dryRun: false, onUnsafe: 'refuse' }))
      expect(error).toMatchObject({ code: 'CONTRACT_UNSAFE' })
      expect(error.details[0]).toMatch(/e\.g\. keys .*1/)

      // When it runs with --backfill, Then the rows are brought in line first and the contract runs
      const decisions = await runDueContracts(second.ctx, {
        dryRun: false,
        onUnsafe: 'refuse',
        backfill: true,
      })
      expect(decisions.filter((d) => d.status === 'ran').map((d) => d.version)).toContain('2.0.0')
      await withClient(url, async (c) => {
        expect(await columns(c, 'profiles')).not.toContain('name')
        const { rows } = await c.query('SELECT first_name FROM profiles WHERE id = 1')
        expect(rows).toEqual([{ first_name: 'Ada' }])
      })
    })
  })
})
