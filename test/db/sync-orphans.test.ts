import { describe, expect, it, vi } from 'vitest'
import { withClient, type Client } from '../../src/db/client.js'
import { cancelPendingContract, recordPendingContract } from '../../src/journal/postgres-contracts.js'
import { describeDroppedOrphans, dropOrphanSyncs } from '../../src/db/sync-orphans.js'
import { activeSyncs, installSync, tableSyncs } from '../../src/db/sync.js'
import { createTestDatabase } from '../support/postgres.js'

const [nameSplit] = tableSyncs([
  {
    table: 'profiles',
    forward: { first_name: "split_part(name, ' ', 1)", last_name: "nullif(split_part(name, ' ', 2), '')" },
    backward: { name: "concat_ws(' ', first_name, last_name)" },
  },
])
const [loginRename] = tableSyncs([{ rename: { table: 'accounts', column: 'login', to: 'username' } }])
const [tagRename] = tableSyncs([{ rename: { table: 'tags', column: 'label', to: 'title' } }])

const app = 'shop'
const lock = { lockTimeoutMs: 500 }

async function triggersOn(client: Client, table: string): Promise<string[]> {
  const { rows } = await client.query<{ tgname: string }>(
    'SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY tgname',
    [table],
  )
  return rows.map((r) => r.tgname)
}

async function contract(client: Client, release: string, releaseSeq: number, cancelled: boolean) {
  await recordPendingContract(client, {
    app,
    release,
    version: `${releaseSeq}.0.0`,
    releaseSeq,
    dir: '/nowhere',
    files: [],
    notBefore: new Date(),
  })
  if (cancelled) await cancelPendingContract(client, { app, release })
}

describe('orphan sync triggers', () => {
  it('are dropped by the next release’s expand; live, pending and re-declared syncs stay', async () => {
    const url = await createTestDatabase('sync_orphans')
    await withClient(url, async (client) => {
      await client.query(
        'CREATE TABLE profiles (id int PRIMARY KEY, name text, first_name text, last_name text)',
      )
      await client.query('CREATE TABLE accounts (id int PRIMARY KEY, login text)')
      await client.query('CREATE TABLE tags (id int PRIMARY KEY, label text)')
      // Given release 1 (live, its contract pending) with a sync on accounts
      await installSync(client, loginRename, { app, release: 'r1', version: '1.0.0', releaseSeq: 1, ...lock })
      await contract(client, 'r1', 1, false)
      // And release 2, rolled back (its contract cancelled), with a sync on profiles
      await installSync(client, nameSplit, { app, release: 'r2', version: '2.0.0', releaseSeq: 2, ...lock })
      await contract(client, 'r2', 2, true)
      // And release 3, rolled back before it recorded a contract (the journal knows), with a sync on tags
      await installSync(client, tagRename, { app, release: 'r3', version: '3.0.0', releaseSeq: 3, ...lock })
      const profilesTrigger = (await triggersOn(client, 'profiles'))[0]
      expect(profilesTrigger).toMatch(/^bluegreen_sync_shop_profiles_2$/)

      // When release 4, which declares only the tags sync again, runs its expand
      const dropped = await dropOrphanSyncs(client, {
        app,
        releaseSeq: 4,
        declared: [tagRename],
        rolledBack: ['r3'],
        ...lock,
      })

      // Then the rolled-back release 2's sync is gone: trigger, function and active record
      expect(dropped).toEqual([
        { release: 'r2', version: '2.0.0', table: 'public.profiles', name: 'bluegreen_sync_shop_profiles_2' },
      ])
      expect(await triggersOn(client, 'profiles')).toEqual([])
      const fn = await client.query("SELECT 1 FROM pg_proc WHERE proname = 'bluegreen_sync_shop_profiles_2'")
      expect(fn.rowCount).toBe(0)
      // And the step can say so
      expect(describeDroppedOrphans(dropped)).toBe(
        'dropped the sync of rolled-back 2.0.0 on public.profiles (bluegreen_sync_shop_profiles_2)',
      )
      // And writes to profiles work and are no longer rewritten
      await client.query("INSERT INTO profiles (id, name) VALUES (1, 'Ada Lovelace')")
      const row = await client.query('SELECT first_name FROM profiles WHERE id = 1')
      expect(row.rows[0]).toEqual({ first_name: null })
      // And release 1's sync (its contract drops it) and release 3's (release 4 takes it over) stay
      expect((await activeSyncs(client, app)).map((s) => [s.release, s.table])).toEqual([
        ['r1', 'public.accounts'],
        ['r3', 'public.tags'],
      ])
      expect(await triggersOn(client, 'accounts')).toEqual(['bluegreen_sync_shop_accounts_1'])
      // And release 4's install of the same tags sync takes release 3's over
      await installSync(client, tagRename, { app, release: 'r4', version: '4.0.0', releaseSeq: 4, ...lock })
      expect(await triggersOn(client, 'tags')).toEqual(['bluegreen_sync_shop_tags_4'])

      // When the expand runs again (a resume), Then there is nothing left to drop
      expect(await dropOrphanSyncs(client, { app, releaseSeq: 4, declared: [tagRename], ...lock })).toEqual(
        [],
      )
      // And a later release never drops the syncs of a live release
      expect(await dropOrphanSyncs(client, { app, releaseSeq: 9, declared: [], ...lock })).toEqual([])
      expect(describeDroppedOrphans([])).toBeUndefined()
    })
  })
})

/** Counts the statements `client` sends while `fn` runs. */
async function countingQueries<T>(
  client: Client,
  fn: () => Promise<T>,
): Promise<{ result: T; queries: number }> {
  const spy = vi.spyOn(client, 'query')
  try {
    const result = await fn()
    return { result, queries: spy.mock.calls.length }
  } finally {
    spy.mockRestore()
  }
}

describe('the orphan check of an expand with nothing to drop', () => {
  it('is one query and never asks the journal, with or without the state schema', async () => {
    const url = await createTestDatabase('sync_orphans_cheap')
    await withClient(url, async (client) => {
      let journalAsked = 0
      const rolledBack = () => {
        journalAsked++
        return Promise.resolve(['r1'])
      }
      // Given a database bluegreen never wrote to (no state schema)
      // When the expand checks for orphans, Then it finds none in one query
      const none = await countingQueries(client, () =>
        dropOrphanSyncs(client, { app, releaseSeq: 1, declared: [nameSplit], rolledBack, ...lock }),
      )
      expect(none).toEqual({ result: [], queries: 1 })

      // Given the state schema, and a sync of release 2 only (the release that now runs, or later)
      await client.query(
        'CREATE TABLE profiles (id int PRIMARY KEY, name text, first_name text, last_name text)',
      )
      await installSync(client, nameSplit, { app, release: 'r2', version: '2.0.0', releaseSeq: 2, ...lock })
      // When release 2's expand checks, Then it is one query, and the journal is not asked
      const own = await countingQueries(client, () =>
        dropOrphanSyncs(client, { app, releaseSeq: 2, declared: [nameSplit], rolledBack, ...lock }),
      )
      expect(own).toEqual({ result: [], queries: 1 })
      expect(journalAsked).toBe(0)

      // When release 3's expand checks, and the journal names only another release as rolled back
      const later = await dropOrphanSyncs(client, { app, releaseSeq: 3, declared: [], rolledBack, ...lock })
      // Then it asked the journal once, and release 2's sync stays (it may be live)
      expect(journalAsked).toBe(1)
      expect(later).toEqual([])
      expect(await triggersOn(client, 'profiles')).toEqual(['bluegreen_sync_shop_profiles_2'])
      // And once the journal says release 2 was rolled back, the same check drops it
      const dropped = await dropOrphanSyncs(client, {
        app,
        releaseSeq: 3,
        declared: [],
        rolledBack: () => Promise.resolve(['r2']),
        ...lock,
      })
      expect(dropped.map((o) => o.name)).toEqual(['bluegreen_sync_shop_profiles_2'])
      expect(await triggersOn(client, 'profiles')).toEqual([])
    })
  })
})
