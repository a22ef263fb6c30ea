import { describe, expect, it } from 'vitest'
import { backfill, nextBatchSize } from '../../src/db/backfill.js'
import { withClient, withTransaction, type Client } from '../../src/db/client.js'
import {
  activeSyncs,
  dropSyncsInTransaction,
  installAndFill,
  installSync,
  rowsMatching,
  syncBackfill,
  syncMismatch,
  syncObjectName,
  tableSyncs,
  SYNC_BACKFILL_BATCHES,
  SYNC_BYPASS_SETTING,
} from '../../src/db/sync.js'
import { failure } from '../support/failure.js'
import { createTestDatabase } from '../support/postgres.js'

const nameSplit = tableSyncs([
  {
    table: 'profiles',
    forward: { first_name: "split_part(name, ' ', 1)", last_name: "nullif(split_part(name, ' ', 2), '')" },
    backward: { name: "concat_ws(' ', first_name, last_name)" },
  },
])[0]

const release = { app: 'shop', release: 'r2', version: '2.0.0', releaseSeq: 2, lockTimeoutMs: 500 }

async function profilesDb(): Promise<string> {
  const url = await createTestDatabase('sync')
  await withClient(url, (client) =>
    client.query(
      `CREATE TABLE profiles (id bigserial PRIMARY KEY, name text, first_name text, last_name text)`,
    ),
  )
  return url
}

async function row(client: Client, id: number) {
  const { rows } = await client.query<{
    name: string | null
    first_name: string | null
    last_name: string | null
  }>('SELECT name, first_name, last_name FROM profiles WHERE id = $1', [id])
  return rows[0]
}

describe('sync triggers', () => {
  it('keep old and new columns right whichever version writes', async () => {
    // Given a profiles table with the sync of name → first_name + last_name installed
    const url = await profilesDb()
    await withClient(url, async (client) => {
      expect(await installSync(client, nameSplit, release)).toMatchObject({ created: true })

      // When the old version inserts with name only, Then the new columns are filled through forward
      await client.query("INSERT INTO profiles (id, name) VALUES (1, 'Ada Lovelace')")
      expect(await row(client, 1)).toEqual({ name: 'Ada Lovelace', first_name: 'Ada', last_name: 'Lovelace' })

      // When the new version inserts with first/last only, Then name is filled through backward
      await client.query("INSERT INTO profiles (id, first_name, last_name) VALUES (2, 'Alan', 'Turing')")
      expect(await row(client, 2)).toEqual({ name: 'Alan Turing', first_name: 'Alan', last_name: 'Turing' })

      // When the new version updates only a last name, Then name follows
      await client.query("UPDATE profiles SET last_name = 'Byron' WHERE id = 1")
      expect(await row(client, 1)).toEqual({ name: 'Ada Byron', first_name: 'Ada', last_name: 'Byron' })

      // When the old version updates only name, Then first/last follow
      await client.query("UPDATE profiles SET name = 'Grace Hopper' WHERE id = 2")
      expect(await row(client, 2)).toEqual({ name: 'Grace Hopper', first_name: 'Grace', last_name: 'Hopper' })

      // When a write sets both sides, Then both are kept as written
      await client.query("UPDATE profiles SET name = 'X Y', first_name = 'P', last_name = 'Q' WHERE id = 2")
      expect(await row(client, 2)).toEqual({ name: 'X Y', first_name: 'P', last_name: 'Q' })
      await client.query("INSERT INTO profiles (id, name, first_name) VALUES (3, 'A B', 'C')")
      expect(await row(client, 3)).toEqual({ name: 'A B', first_name: 'C', last_name: null })

      // When an update touches neither side, Then nothing is recomputed
      await client.query('UPDATE profiles SET id = 4 WHERE id = 3')
      expect(await row(client, 4)).toEqual({ name: 'A B', first_name: 'C', last_name: null })

      // When an insert sets neither side, Then they stay NULL (backward would give '')
      await client.query('INSERT INTO profiles (id) VALUES (5)')
      expect(await row(client, 5)).toEqual({ name: null, first_name: null, last_name: null })

      // When a transaction says it is a backfill, Then the trigger keeps its writes as they are
      await withTransaction(client, async () => {
        await client.query(`SET LOCAL ${SYNC_BYPASS_SETTING} = 'off'`)
        await client.query("UPDATE profiles SET first_name = 'Only' WHERE id = 1")
      })
      expect(await row(client, 1)).toEqual({ name: 'Ada Byron', first_name: 'Only', last_name: 'Byron' })
    })
  })

  it('installs once, records its owner, and drops without a trace', async () => {
    const url = await profilesDb()
    await withClient(url, async (client) => {
      // Given an installed sync
      await installSync(client, nameSplit, release)
      // When it is installed again, Then nothing changes
      expect(await installSync(client, nameSplit, release)).toMatchObject({ created: false })
      const active = await activeSyncs(client, 'shop')
      expect(active.map((s) => [s.release, s.table, s.name])).toEqual([
        ['r2', 'public.profiles', 'bluegreen_sync_shop_profiles_2'],
      ])
      // When a re-release (a later release) installs the same sync, Then it takes the sync over
      await installSync(client, nameSplit, { ...release, release: 'r3', releaseSeq: 3 })
      expect((await activeSyncs(client, 'shop')).map((s) => s.name)).toEqual([
        'bluegreen_sync_shop_profiles_3',
      ])
      const triggers = async () =>
        (
          await client.query<{ tgname: string }>(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'profiles'::regclass AND NOT tgisinternal",
          )
        ).rows.map((r) => r.tgname)
      expect(await triggers()).toEqual(['bluegreen_sync_shop_profiles_3'])

      // When its release's contract drops it, Then trigger and function are gone and writes still work
      await withTransaction(client, () => dropSyncsInTransaction(client, { app: 'shop', release: 'r3' }))
      expect(await triggers()).toEqual([])
      const functions = await client.query("SELECT 1 FROM pg_proc WHERE proname LIKE 'bluegreen_sync_%'")
      expect(functions.rowCount).toBe(0)
      expect(await activeSyncs(client, 'shop')).toEqual([])
      await client.query("INSERT INTO profiles (id, name) VALUES (10, 'No Sync')")
      expect(await row(client, 10)).toEqual({ name: 'No Sync', first_name: null, last_name: null })
    })
  })

  it('brings existing rows in line through forward, and a rerun changes nothing', async () => {
    const url = await profilesDb()
    await withClient(url, async (client) => {
      // Given 2500 rows the old version wrote before the sync existed
      await client.query(
        "INSERT INTO profiles (name) SELECT 'first' || g || ' last' || g FROM generate_series(1, 2500) g",
      )
      await installSync(client, nameSplit, release)
      const options = {
        table: 'profiles',
        ...syncBackfill(nameSplit),
        batchSize: 300,
        lockTimeoutMs: 500,
        settings: { [SYNC_BYPASS_SETTING]: 'off' },
      }
      // When the sync backfill runs, Then every row is in line
      expect(await backfill(client, options)).toMatchObject({ rows: 2500 })
      expect((await rowsMatching(client, 'profiles', syncMismatch(nameSplit))).count).toBe(0)
      // When it runs again, Then it does nothing
      expect(await backfill(client, options)).toMatchObject({ rows: 0 })
      // When a row goes out of line (written with the trigger bypassed), Then the rerun fixes just it
      await withTransaction(client, async () => {
        await client.query(`SET LOCAL ${SYNC_BYPASS_SETTING} = 'off'`)
        await client.query("UPDATE profiles SET name = 'changed name' WHERE id IN (7, 9)")
      })
      expect(await rowsMatching(client, 'profiles', syncMismatch(nameSplit))).toEqual({
        count: 2,
        examples: expect.arrayContaining(['7', '9']) as unknown,
      })
      expect(await backfill(client, options)).toMatchObject({ rows: 2 })
      expect(await row(client, 7)).toEqual({ name: 'changed name', first_name: 'changed', last_name: 'name' })
    })
  })

  it('fills the rows before the trigger goes in on a first release, and catches what the old version wrote meanwhile', async () => {
    const url = await profilesDb()
    await withClient(url, async (client) => {
      // Given 3000 rows the old version wrote, and no trigger on the table yet
      await client.query(
        "INSERT INTO profiles (name) SELECT 'first' || g || ' last' || g FROM generate_series(1, 3000) g",
      )
      await withClient(url, async (oldVersion) => {
        let wrote = false
        // When the old version writes while the rows are filled (after the first batch, rows it already did)
        const filled = await installAndFill(client, nameSplit, release, {
          fillFirst: true,
          lockTimeoutMs: 500,
          onProgress: () => {
            if (wrote) return
            wrote = true
            const triggers = oldVersion.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'profiles'::regclass",
            )
            return triggers.then(async ({ rows }) => {
              // (no trigger yet: this is the pass before it)
              expect(rows[0].n).toBe(0)
              await oldVersion.query("UPDATE profiles SET name = 'Grace Hopper' WHERE id = 1")
              await oldVersion.query("INSERT INTO profiles (id, name) VALUES (5000, 'Edsger Dijkstra')")
            })
          },
        })
        // Then the fill ran first, and every row is in line, those written meanwhile too
        expect(filled).toMatchObject({ created: true, filledFirst: true })
        expect(wrote).toBe(true)
        expect((await rowsMatching(client, 'profiles', syncMismatch(nameSplit))).count).toBe(0)
        expect(await row(client, 1)).toEqual({
          name: 'Grace Hopper',
          first_name: 'Grace',
          last_name: 'Hopper',
        })
        expect(await row(client, 5000)).toEqual({
          name: 'Edsger Dijkstra',
          first_name: 'Edsger',
          last_name: 'Dijkstra',
        })
        // And the trigger is in for the writes from now on
        await oldVersion.query("UPDATE profiles SET name = 'Alan Turing' WHERE id = 2")
        expect(await row(client, 2)).toEqual({ name: 'Alan Turing', first_name: 'Alan', last_name: 'Turing' })
      })
      // When it runs again (a resumed expand), Then it changes nothing and the trigger stays
      expect(
        await installAndFill(client, nameSplit, release, { fillFirst: true, lockTimeoutMs: 500 }),
      ).toMatchObject({
        created: false,
        filledFirst: false,
        rows: 0,
      })
    })
  })

  it('puts the trigger in first when something may write the new columns already', async () => {
    for (const given of ['a step touched a pool before the expand', 'a sync is on the table'] as const) {
      const url = await profilesDb()
      await withClient(url, async (client) => {
        await client.query(
          "INSERT INTO profiles (name) SELECT 'first' || g || ' last' || g FROM generate_series(1, 1500) g",
        )
        if (given === 'a sync is on the table')
          await installSync(client, nameSplit, { ...release, release: 'r1' })
        let triggersDuringFill = -1
        const filled = await installAndFill(client, nameSplit, release, {
          fillFirst: given === 'a sync is on the table',
          lockTimeoutMs: 500,
          onProgress: () => {
            if (triggersDuringFill >= 0) return
            return client
              .query<{ n: number }>(
                "SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'profiles'::regclass",
              )
              .then(({ rows }) => void (triggersDuringFill = rows[0].n))
          },
        })
        expect(filled, given).toMatchObject({ filledFirst: false, rows: 1500 })
        expect(triggersDuringFill, given).toBe(1)
        expect((await rowsMatching(client, 'profiles', syncMismatch(nameSplit))).count, given).toBe(0)
      })
    }
  })

  it('adds a renamed column with the same type, and keeps both names equal', async () => {
    const url = await createTestDatabase('sync')
    await withClient(url, async (client) => {
      await client.query('CREATE TABLE accounts (id int PRIMARY KEY, login varchar(40) NOT NULL)')
      const [rename] = tableSyncs([{ rename: { table: 'accounts', column: 'login', to: 'username' } }])
      await installSync(client, rename, release)
      const type = await client.query<{ type: string; nullable: string }>(
        `SELECT format_type(atttypid, atttypmod) AS type, NOT attnotnull AS nullable FROM pg_attribute
          WHERE attrelid = 'accounts'::regclass AND attname = 'username'`,
      )
      expect(type.rows).toEqual([{ type: 'character varying(40)', nullable: true }])
      await client.query("INSERT INTO accounts (id, login) VALUES (1, 'ada')")
      await client.query("UPDATE accounts SET username = 'ada2' WHERE id = 1")
      const { rows } = await client.query('SELECT login, username FROM accounts')
      expect(rows).toEqual([{ login: 'ada2', username: 'ada2' }])
    })
  })

  it('refuses columns that do not exist, naming table and column', async () => {
    const url = await profilesDb()
    await withClient(url, async (client) => {
      const [missing] = tableSyncs([
        { table: 'profiles', forward: { full_name: 'name' }, backward: { name: 'full_name' } },
      ])
      const error = await failure(installSync(client, missing, release))
      expect(error.message).toBe('sync of public.profiles: column full_name (forward) does not exist')
      const [badExpression] = tableSyncs([
        { table: 'profiles', forward: { first_name: 'upper(nickname)' }, backward: { name: 'first_name' } },
      ])
      const second = await failure(installSync(client, badExpression, release))
      expect(second.message).toContain(
        'forward first_name = upper(nickname): column "nickname" does not exist',
      )
      expect(await activeSyncs(client, 'shop')).toEqual([])
    })
  })

  it('keeps trigger names within 63 bytes, and apart', () => {
    const long = 'a'.repeat(60)
    const one = syncObjectName(long, 'profiles', 12)
    const two = syncObjectName(`${long}b`, 'profiles', 12)
    expect(Buffer.byteLength(one)).toBeLessThanOrEqual(63)
    expect(one).not.toBe(two)
    expect(one.endsWith('_12')).toBe(true)
  })
})

describe('the sync backfill’s batch size', () => {
  it('follows the time batches take: at most doubling, at least a quarter, capped at 20 × the first', () => {
    expect(nextBatchSize(1000, 5, 25, 1000)).toBe(2000)
    expect(nextBatchSize(1000, 20, 25, 1000)).toBe(1250)
    expect(nextBatchSize(1000, 100, 25, 1000)).toBe(250)
    expect(nextBatchSize(1000, 10_000, 25, 1000)).toBe(250)
    expect(nextBatchSize(16_000, 1, 25, 1000)).toBe(20_000)
    expect(nextBatchSize(1, 1000, 25, 1000)).toBe(1)
  })

  it('grows on a fast table and shrinks on a slow one, and loses no write made meanwhile', async () => {
    const url = await profilesDb()
    await withClient(url, async (client) => {
      // Given 20,000 rows the old version wrote before the sync, and the sync installed
      await client.query(
        "INSERT INTO profiles (name) SELECT 'first' || g || ' last' || g FROM generate_series(1, 20000) g",
      )
      await installSync(client, nameSplit, release)
      const sizes: number[] = []
      let done = 0
      const options = {
        table: 'profiles',
        ...syncBackfill(nameSplit),
        ...SYNC_BACKFILL_BATCHES,
        lockTimeoutMs: 2000,
        settings: { [SYNC_BYPASS_SETTING]: 'off' },
        onProgress: (p: { done: number }) => {
          sizes.push(p.done - done)
          done = p.done
        },
      }
      const outOfLine = (ids: string) =>
        withTransaction(client, async () => {
          await client.query(`SET LOCAL ${SYNC_BYPASS_SETTING} = 'off'`)
          await client.query(`UPDATE profiles SET first_name = 'stale' WHERE ${ids}`)
        })

      // When the backfill runs with no limit in sight (a target far above what a batch takes)
      const grown = await backfill(client, { ...options, targetBatchMs: 60_000 })
      // Then each batch doubles the last: 1000, 2000, 4000, 8000, and the 5000 rows left
      expect(grown).toMatchObject({ rows: 20_000, batches: 5 })
      expect(sizes).toEqual([1000, 2000, 4000, 8000, 5000])

      // Given every row out of line again, and both versions writing while the backfill runs: the
      // old one names on even ids, the new one first and last names on odd ids
      await outOfLine('true')
      const meant = new Map<number, { first: string; last: string }>()
      let writing = true
      const writer = async (parity: 0 | 1) => {
        const { default: pg } = await import('pg')
        const other = new pg.Client({ connectionString: url })
        await other.connect()
        try {
          for (let n = 0; writing; n++) {
            const id = 2 * (1 + ((n * 7919) % 9999)) - parity
            const [first, last] = [`F${parity}x${n}`, `L${parity}x${n}`]
            if (parity === 0)
              await other.query('UPDATE profiles SET name = $1 WHERE id = $2', [`${first} ${last}`, id])
            else
              await other.query('UPDATE profiles SET first_name = $1, last_name = $2 WHERE id = $3', [
                first,
                last,
                id,
              ])
            meant.set(id, { first, last })
          }
        } finally {
          await other.end()
        }
      }
      const writers = [writer(0), writer(1)]
      // When the backfill runs as the expand phase runs it
      await backfill(client, { ...options, name: 'concurrent' })
      writing = false
      await Promise.all(writers)
      // Then every row is what its last write meant, whichever version wrote it, and all are in line
      expect(meant.size).toBeGreaterThan(10)
      for (const [id, { first, last }] of meant)
        expect(await row(client, id)).toEqual({
          name: `${first} ${last}`,
          first_name: first,
          last_name: last,
        })
      expect((await rowsMatching(client, 'profiles', syncMismatch(nameSplit))).count).toBe(0)

      // When rows go out of line again and every batch takes longer than its target
      await outOfLine('id <= 1400')
      sizes.length = 0
      done = 0
      await backfill(client, { ...options, name: 'slow', targetBatchMs: 0.001 })
      // Then each batch is a quarter of the last, down to one row
      expect(sizes.slice(0, 6)).toEqual([1000, 250, 63, 16, 4, 1])
      expect((await rowsMatching(client, 'profiles', syncMismatch(nameSplit))).count).toBe(0)
    })
  })
})
