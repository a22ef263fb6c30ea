import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backfill, type BackfillOptions, type BackfillProgress } from '../../src/db/backfill.js'
import { withClient, type Client } from '../../src/db/client.js'
import type { BluegreenError } from '../../src/errors.js'
import { createTestDatabase } from '../support/postgres.js'
import { startProcess, stopAll, waitFor } from '../support/process.js'

afterAll(stopAll)

async function failure(promise: Promise<unknown>): Promise<BluegreenError> {
  return promise.then(
    () => {
      throw new Error('expected a failure')
    },
    (error: unknown) => error as BluegreenError,
  )
}

async function rowsToDo(client: Client, table: string, where: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)
  return Number(rows[0].n)
}

describe('backfill', () => {
  it('fills 1,000,000 rows, and resumes after a kill without redoing finished batches', async () => {
    // Given a table of a million profiles whose new column first_name is still empty
    const url = await createTestDatabase('backfill_1m')
    await withClient(url, async (client) => {
      await client.query(
        'CREATE TABLE profiles (id bigint PRIMARY KEY, name text NOT NULL, first_name text, touched int NOT NULL DEFAULT 0)',
      )
      await client.query(
        "INSERT INTO profiles (id, name) SELECT g, 'first' || g || ' last' || g FROM generate_series(1, 1000000) g",
      )
      await client.query('VACUUM ANALYZE profiles')
    })
    const batchSize = 25_000
    const options = {
      table: 'profiles',
      set: "first_name = split_part(name, ' ', 1), touched = touched + 1",
      where: 'first_name IS NULL',
      batchSize,
      lockTimeoutMs: 1000,
      name: 'profiles-first-name',
    } satisfies BackfillOptions

    // When a backfill runs in another process and is killed (SIGKILL) once a third is done
    const child = startProcess(process.execPath, [
      '--import',
      'tsx',
      join(import.meta.dirname, 'support/backfill-child.ts'),
      url,
      JSON.stringify(options),
    ])
    const rowsReported = () => Number(/progress (\d+) \d+\n$/.exec(child.output())?.[1] ?? 0)
    await waitFor(() => rowsReported() >= 300_000, 40_000, 'a third of the backfill')
    process.kill(child.pid, 'SIGKILL')
    await child.exited
    expect(child.output()).not.toContain('finished')

    await withClient(url, async (client) => {
      // (The server finishes what the killed process had sent; wait until its session is gone.)
      await waitFor(
        async () => {
          const { rows } = await client.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
          )
          return rows[0].n === 0
        },
        10_000,
        'the killed session to end',
      )
      const saved = await client.query<{ rows_done: string; batches: number; last_key: string[] }>(
        "SELECT rows_done, batches, last_key FROM bluegreen.backfills WHERE name = 'profiles-first-name'",
      )
      const { rows_done: doneBeforeText, batches: batchesBefore, last_key: lastKey } = saved.rows[0]
      const doneBefore = Number(doneBeforeText)
      // Then what the killed run committed is exactly what its saved progress says (no half batch)
      expect(doneBefore).toBe(batchesBefore * batchSize)
      expect(lastKey).toEqual([String(doneBefore)])
      expect(await rowsToDo(client, 'profiles', 'first_name IS NULL')).toBe(1_000_000 - doneBefore)

      // When the backfill is run again
      const progress: BackfillProgress[] = []
      const started = performance.now()
      const result = await backfill(client, { ...options, onProgress: (p) => progress.push(p) })
      const seconds = (performance.now() - started) / 1000

      // Then it starts after the last finished range: only the remaining ranges, plus one empty final batch
      expect(result.resumed).toBe(true)
      expect(result.rows).toBe(1_000_000 - doneBefore)
      expect(result.batches).toBe((1_000_000 - doneBefore) / batchSize + 1)
      expect(progress[0]).toMatchObject({ done: doneBefore + batchSize, batches: batchesBefore + 1 })
      expect(progress.at(-1)).toMatchObject({ done: 1_000_000, total: 1_000_000, etaMs: 0 })
      // And every row is right, and no row was updated twice
      expect(await rowsToDo(client, 'profiles', 'first_name IS NULL')).toBe(0)
      expect(
        await rowsToDo(client, 'profiles', "first_name <> split_part(name, ' ', 1) OR touched <> 1"),
      ).toBe(0)
      // And each batch was short
      expect(result.maxBatchMs).toBeGreaterThan(0)
      expect(result.maxBatchMs).toBeLessThan(5000)
      expect(seconds).toBeLessThan(45)

      // When it is run once more, it knows it is finished
      expect(await backfill(client, options)).toEqual({ rows: 0, batches: 0, maxBatchMs: 0, resumed: true })
    })
  })

  it('walks uuid and composite keys, and reports progress with an estimated total', async () => {
    const url = await createTestDatabase('backfill_keys')
    await withClient(url, async (client) => {
      // Given a table keyed by uuid and one keyed by (tenant, seq)
      await client.query(
        'CREATE TABLE tokens (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), raw text NOT NULL, hashed text)',
      )
      await client.query("INSERT INTO tokens (raw) SELECT 'token-' || g FROM generate_series(1, 5000) g")
      await client.query(
        'CREATE TABLE lines (tenant text, seq int, qty int NOT NULL, qty2 int, PRIMARY KEY (tenant, seq))',
      )
      await client.query("INSERT INTO lines SELECT 't' || (g % 7), g, g FROM generate_series(1, 4000) g")
      // A row that is already done must stay as it is
      await client.query('UPDATE lines SET qty2 = -1 WHERE seq = 7')

      // When both are backfilled in batches of 300
      const progress: BackfillProgress[] = []
      const tokens = await backfill(client, {
        table: 'public.tokens',
        set: 'hashed = md5(raw)',
        where: 'hashed IS NULL',
        batchSize: 300,
        lockTimeoutMs: 1000,
        onProgress: (p) => progress.push(p),
      })
      const lines = await backfill(url, {
        table: 'lines',
        set: 'qty2 = qty * 2',
        where: 'qty2 IS NULL',
        batchSize: 300,
        lockTimeoutMs: 1000,
      })

      // Then every row is done, in floor(n / 300) full batches and a last one that runs to the end
      expect(tokens).toMatchObject({ rows: 5000, batches: Math.floor(5000 / 300) + 1, resumed: false })
      expect(lines).toMatchObject({ rows: 3999, batches: Math.floor(4000 / 300) + 1 })
      expect(await rowsToDo(client, 'tokens', 'hashed IS DISTINCT FROM md5(raw)')).toBe(0)
      expect(await rowsToDo(client, 'lines', 'qty2 <> qty * 2 AND seq <> 7')).toBe(0)
      expect(await rowsToDo(client, 'lines', 'seq = 7 AND qty2 = -1')).toBe(1)
      // And progress counted up to the total, with a rate and an ETA along the way
      expect(progress.map((p) => p.done)).toEqual([...progress.map((p) => p.done)].sort((a, b) => a - b))
      expect(progress[0].total).toBe(5000)
      expect(progress[0].rate).toBeGreaterThan(0)
      expect(progress[0].etaMs).toBeGreaterThan(0)
      expect(progress.at(-1)).toMatchObject({ done: 5000, total: 5000, etaMs: 0, batches: tokens.batches })
    })
  })

  it('stops after the current batch on abort, and a rerun continues where it stopped', async () => {
    const url = await createTestDatabase('backfill_abort')
    await withClient(url, async (client) => {
      await client.query('CREATE TABLE events (id int PRIMARY KEY, payload text, size int)')
      await client.query("INSERT INTO events SELECT g, repeat('x', g % 50) FROM generate_series(1, 2000) g")
      const options = {
        table: 'events',
        set: 'size = length(payload)',
        where: 'size IS NULL',
        batchSize: 100,
        lockTimeoutMs: 1000,
        pauseMs: 5,
      }

      // Given a backfill that is aborted during its third batch
      const controller = new AbortController()
      const error = await failure(
        backfill(client, {
          ...options,
          signal: controller.signal,
          onProgress: (p) => {
            if (p.batches === 3) controller.abort()
          },
        }),
      )

      // Then it stopped after that batch, saying its progress is saved
      expect(error.code).toBe('INTERRUPTED')
      expect(error.message).toContain('after 3 batches (300 rows)')
      expect(await rowsToDo(client, 'events', 'size IS NULL')).toBe(1700)

      // When it runs again, it does the rest only
      const result = await backfill(client, options)
      expect(result).toMatchObject({ rows: 1700, batches: 18, resumed: true })
      expect(await rowsToDo(client, 'events', 'size IS DISTINCT FROM length(payload)')).toBe(0)
    })
  })

  it('keeps to rowsPerSecond', async () => {
    const url = await createTestDatabase('backfill_rate')
    await withClient(url, async (client) => {
      await client.query('CREATE TABLE t (id int PRIMARY KEY, v int)')
      await client.query('INSERT INTO t SELECT g FROM generate_series(1, 1200) g')
      const started = performance.now()
      const result = await backfill(client, {
        table: 't',
        set: 'v = id',
        where: 'v IS NULL',
        batchSize: 200,
        rowsPerSecond: 2000,
        lockTimeoutMs: 1000,
      })
      const elapsedMs = performance.now() - started
      // 1200 rows at 2000 rows/s take at least 0.5 s (the pause comes after each batch but the last)
      expect(result.rows).toBe(1200)
      expect(elapsedMs).toBeGreaterThan(500)
    })
  })

  it('waits out a row lock held by the application, batch by batch', async () => {
    const url = await createTestDatabase('backfill_lock')
    await withClient(url, (app) =>
      withClient(url, async (client) => {
        await client.query('CREATE TABLE t (id int PRIMARY KEY, v int)')
        await client.query('INSERT INTO t SELECT g FROM generate_series(1, 500) g')
        // Given the application holds a row lock in the second batch's range for 600 ms
        await app.query('BEGIN')
        await app.query('UPDATE t SET v = -1 WHERE id = 150')
        const release = new Promise((resolve) => setTimeout(resolve, 600)).then(() => app.query('COMMIT'))
        // When the backfill runs with a short lock timeout
        const retries: number[] = []
        const result = await backfill(client, {
          table: 't',
          set: 'v = id',
          where: 'v IS NULL',
          batchSize: 100,
          lockTimeoutMs: 100,
          onRetry: (info) => retries.push(info.attempt),
        })
        await release
        // Then it retried that batch until the lock was gone, and skipped the row the application had written
        expect(retries.length).toBeGreaterThan(0)
        expect(result.rows).toBe(499)
        expect(await rowsToDo(client, 't', 'v IS DISTINCT FROM id AND id <> 150')).toBe(0)
      }),
    )
  })

  it('says what is wrong with a table without a key, or a bad expression', async () => {
    const url = await createTestDatabase('backfill_errors')
    await withClient(url, async (client) => {
      await client.query('CREATE TABLE heap (a int, b int)')
      await client.query('CREATE TABLE keyed (id int PRIMARY KEY, b int)')
      const noKey = await failure(
        backfill(client, {
          table: 'heap',
          set: 'b = a',
          where: 'b IS NULL',
          batchSize: 10,
          lockTimeoutMs: 100,
        }),
      )
      expect(noKey).toMatchObject({
        code: 'BACKFILL_FAILED',
        message: 'backfill: public.heap has no primary key to walk',
      })
      const missing = await failure(
        backfill(client, { table: 'nope', set: 'b = 1', where: 'true', batchSize: 10, lockTimeoutMs: 100 }),
      )
      expect(missing.message).toBe('backfill: table nope does not exist')
      const badWhere = await failure(
        backfill(client, {
          table: 'keyed',
          set: 'b = 1',
          where: 'c IS NULL',
          batchSize: 10,
          lockTimeoutMs: 100,
        }),
      )
      expect(badWhere).toMatchObject({
        code: 'BACKFILL_FAILED',
        message: expect.stringContaining('column "c" does not exist'),
      })
    })
  })

  it('is known by what it does: a finished backfill runs again when rows match its where again', async () => {
    const url = await createTestDatabase('backfill_again')
    await withClient(url, async (client) => {
      // Given a finished backfill (no name given: its identity is table, key, set and where)
      await client.query('CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, first_name text)')
      await client.query(
        "INSERT INTO people (id, name) SELECT g, 'p' || g || ' x' FROM generate_series(1, 500) g",
      )
      const options = {
        table: 'people',
        set: "first_name = split_part(name, ' ', 1)",
        where: 'first_name IS NULL',
        batchSize: 100,
        lockTimeoutMs: 500,
      }
      expect(await backfill(client, options)).toMatchObject({ rows: 500 })
      // When nothing matches, Then it is skipped
      expect(await backfill(client, options)).toEqual({ rows: 0, batches: 0, maxBatchMs: 0, resumed: true })

      // When the old version writes rows again (during a rollback), before and after the last key
      await client.query("INSERT INTO people (id, name) VALUES (0, 'early a'), (1000, 'late b')")
      await client.query('UPDATE people SET first_name = NULL WHERE id = 250')
      // Then the next run picks up every one of them
      expect(await backfill(client, options)).toMatchObject({ rows: 3 })
      expect(await rowsToDo(client, 'people', 'first_name IS NULL')).toBe(0)

      // And a different backfill of the same table (another release) is not taken for done
      await client.query('ALTER TABLE people ADD COLUMN family_name text')
      expect(
        await backfill(client, {
          ...options,
          set: "family_name = split_part(name, ' ', 2)",
          where: 'family_name IS NULL',
        }),
      ).toMatchObject({ rows: 502, resumed: false })
    })
  })

  it('walks a key that is not unique, and leaves the session’s settings as it found them', async () => {
    const url = await createTestDatabase('backfill_session')
    await withClient(url, async (client) => {
      // Given a key with runs of equal values longer than a batch, across batch boundaries
      await client.query('CREATE TABLE readings (sensor int NOT NULL, v int, v2 int)')
      await client.query('CREATE INDEX ON readings (sensor)')
      await client.query('INSERT INTO readings SELECT g / 150, g FROM generate_series(1, 3000) g')
      // And a session with settings of its own
      await client.query("SET lock_timeout = '7s'; SET statement_timeout = '9s'; SET synchronous_commit = on")
      const settings = async () =>
        (
          await client.query<{ s: string }>(
            "SELECT current_setting('lock_timeout') || ' ' || current_setting('statement_timeout') || ' ' || current_setting('synchronous_commit') || ' ' || coalesce(nullif(current_setting('app.note', true), ''), '-') AS s",
          )
        ).rows[0].s
      expect(await settings()).toBe('7s 9s on -')

      // When it is backfilled in batches of 100 with a setting of its own
      const options = {
        table: 'readings',
        key: ['sensor'],
        set: 'v2 = v * 2',
        where: 'v2 IS NULL',
        batchSize: 100,
        lockTimeoutMs: 500,
        settings: { 'app.note': 'backfill' },
      }
      const result = await backfill(client, options)

      // Then every row is done once, in ranges that hold whole runs of a key (21 sensors: 0…20)
      expect(result.rows).toBe(3000)
      expect(await rowsToDo(client, 'readings', 'v2 IS DISTINCT FROM v * 2')).toBe(0)
      expect(result.batches).toBeLessThanOrEqual(21)
      // And the session's settings are back as they were
      expect(await settings()).toBe('7s 9s on -')

      // Also when a batch fails
      const error = await failure(
        backfill(client, { ...options, set: 'v2 = v / 0', where: 'true', name: 'bad' }),
      )
      expect(error.message).toContain('division by zero')
      expect(await settings()).toBe('7s 9s on -')
    })
  })
})
