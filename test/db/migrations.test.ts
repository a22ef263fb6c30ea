import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { withClient, type Client } from '../../src/db/client.js'
import {
  appliedMigrations,
  applyMigrations,
  listMigrations,
  type MigrationEvent,
} from '../../src/db/migrations.js'
import type { BluegreenError } from '../../src/errors.js'
import { createTestDatabase } from '../support/postgres.js'

const fixtures = join(import.meta.dirname, '../fixtures/sql/migrations')

const base = { app: 'shop', release: 'v1', lockTimeoutMs: 1000, statementTimeoutMs: 60_000 }

const copies: string[] = []
afterAll(() => copies.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

/** A writable copy of a fixture directory, for tests that edit files (removed after the file). */
function copyOf(name: string): string {
  const root = mkdtempSync(join(tmpdir(), 'bluegreen-mig-'))
  copies.push(root)
  const dir = join(root, name)
  cpSync(join(fixtures, name), dir, { recursive: true })
  return dir
}

async function freshDatabase<T>(fn: (client: Client, url: string) => Promise<T>): Promise<T> {
  const url = await createTestDatabase('migrations')
  return withClient(url, (client) => fn(client, url))
}

async function columns(client: Client, table: string): Promise<string[]> {
  const { rows } = await client.query<{ column_name: string }>(
    'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
    [table],
  )
  return rows.map((r) => r.column_name)
}

/** A database whose `events` table takes seconds to index on events_slow_kind(kind). */
async function slowIndexDatabase(): Promise<string> {
  const url = await createTestDatabase('migrations_cic')
  await withClient(url, async (setup) => {
    await setup.query('CREATE TABLE events (id bigint PRIMARY KEY, kind text)')
    await setup.query("INSERT INTO events SELECT g, 'k' || (g % 7) FROM generate_series(1, 400) g")
    // Declared immutable (an index expression must be), but sleeps per row: the build lasts seconds.
    await setup.query(
      'CREATE FUNCTION events_slow_kind(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN $1; END $$',
    )
  })
  return url
}

async function buildingIndex(client: Client, pid: number): Promise<boolean> {
  const { rows } = await client.query<{ phase: string }>(
    'SELECT phase FROM pg_stat_progress_create_index WHERE pid = $1',
    [pid],
  )
  return rows.some((r) => r.phase.startsWith('building index'))
}

function kindIndexValidity(client: Client): Promise<boolean[]> {
  return client
    .query<{ valid: boolean }>(
      "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass('events_kind_idx')",
    )
    .then((r) => r.rows.map((row) => row.valid))
}

async function backendPid(client: Client): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  return rows[0].pid
}

/** Polls `condition` every 50 ms until it holds (the test's own timeout bounds it). */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 50))
}

async function failure(promise: Promise<unknown>): Promise<BluegreenError> {
  return promise.then(
    () => {
      throw new Error('expected a failure')
    },
    (error: unknown) => error as BluegreenError,
  )
}

describe('migration runner', () => {
  it('applies an expand directory once, in file-name order, and skips it the second time', async () => {
    await freshDatabase(async (client) => {
      // Given the expand directory of a release
      const dir = join(fixtures, 'expand')
      const events: MigrationEvent[] = []

      // When it is applied twice
      const first = await applyMigrations(client, {
        ...base,
        dir,
        phase: 'expand',
        onEvent: (e) => events.push(e),
      })
      const second = await applyMigrations(client, {
        ...base,
        release: 'v2',
        dir,
        phase: 'expand',
        onEvent: (e) => events.push(e),
      })

      // Then each file ran once, the second run skipped them all
      const files = [
        '001_create_accounts.sql',
        '002_add_email.sql',
        '003_index_email.sql',
        '004_plan_column.sql',
      ]
      expect(first).toEqual({ applied: files, skipped: [] })
      expect(second).toEqual({ applied: [], skipped: files })
      expect(events.filter((e) => e.type === 'migration.done').map((e) => e.file)).toEqual(files)
      expect(events.filter((e) => e.type === 'migration.skip').map((e) => e.file)).toEqual(files)

      // And the schema has every change, with the CONCURRENTLY indexes valid
      expect(await columns(client, 'accounts')).toEqual(['id', 'name', 'email', 'created_at', 'plan'])
      const { rows: indexes } = await client.query<{ name: string; valid: boolean }>(
        `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = 'accounts'::regclass ORDER BY 1`,
      )
      expect(indexes).toEqual([
        { name: 'accounts_email_idx', valid: true },
        { name: 'accounts_name_idx', valid: true },
        { name: 'accounts_pkey', valid: true },
        { name: 'accounts_plan_idx', valid: true },
      ])

      // And each file is recorded with its checksum, phase, release and duration
      const listed = await listMigrations(dir)
      const applied = await appliedMigrations(client, 'shop')
      expect(applied.map((m) => [m.file, m.phase, m.release, m.checksum])).toEqual(
        listed.map((m) => [m.file, 'expand', 'v1', m.checksum]),
      )
      for (const m of applied) expect(m.durationMs).toBeGreaterThanOrEqual(0)
    })
  })

  it('refuses an applied file that was edited, naming it', async () => {
    await freshDatabase(async (client) => {
      // Given an applied expand directory
      const dir = copyOf('expand')
      await applyMigrations(client, { ...base, dir, phase: 'expand' })

      // When an applied file is edited and the directory applied again
      const file = join(dir, '002_add_email.sql')
      writeFileSync(file, readFileSync(file, 'utf8').replace('email text', 'email varchar(320)'))
      const error = await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))

      // Then the run is refused with the file's name
      expect(error.code).toBe('MIGRATION_CHANGED')
      expect(error.message).toContain(file)
      expect(error.message).toContain('was applied by release v1')
      expect(error.hint).toMatch(/new migration file/)
    })
  })

  it('stops at a failing statement with file, line and PostgreSQL’s message, and rolls the file back', async () => {
    await freshDatabase(async (client) => {
      // Given a directory whose second file has a bad statement on line 4
      const dir = join(fixtures, 'failing')

      // When it is applied
      const error = await failure(applyMigrations(client, { ...base, dir, phase: 'expand' }))

      // Then the error points at the statement (PostgreSQL's position: line 5, column 3)
      expect(error.code).toBe('MIGRATION_FAILED')
      expect(error.message).toBe(`${join(dir, '002_add_price.sql')}:5:3: type "currency_code" does not exist`)
      expect(error.details).toContain('statement: ALTER TABLE items ADD COLUMN currency')
      expect(error.hint).toMatch(/nothing of this file was committed/)

      // And the first file is applied, while the second left nothing behind
      expect((await appliedMigrations(client)).map((m) => m.file)).toEqual(['001_create_items.sql'])
      expect(await columns(client, 'items')).toEqual(['id', 'title'])
    })
  })

  it('refuses expand files the linter flags, listing the findings, and applies nothing', async () => {
    await freshDatabase(async (client) => {
      // Given an existing table and an expand directory that renames a column and locks the table
      await applyMigrations(client, { ...base, dir: join(fixtures, 'expand'), phase: 'expand' })
      const dir = join(fixtures, 'unsafe')

      // When it is applied
      const error = await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))

      // Then it is refused as UNSAFE_MIGRATION with one line per finding
      expect(error.code).toBe('UNSAFE_MIGRATION')
      expect(error.details).toEqual([
        expect.stringMatching(/001_rename\.sql:2:13: rename-column .*accounts\.name/),
        expect.stringMatching(/002_index\.sql:1:35: create-index /),
      ])
      // And not even the safe first statement ran
      expect(await columns(client, 'accounts')).not.toContain('note')

      // When the linter is turned off (e.g. a reviewed exception)
      const result = await applyMigrations(client, {
        ...base,
        release: 'v2',
        dir,
        phase: 'expand',
        lint: false,
      })
      // Then the files run
      expect(result.applied).toEqual(['001_rename.sql', '002_index.sql'])
    })
  })

  it('lints with what the catalog knows: a table CREATE TABLE IF NOT EXISTS finds, a column that is NOT NULL', async () => {
    await freshDatabase(async (client) => {
      // Given the accounts table, whose name is NOT NULL and created_at NOT NULL with a default
      await applyMigrations(client, { ...base, dir: join(fixtures, 'expand'), phase: 'expand' })
      const dir = mkdtempSync(join(tmpdir(), 'bluegreen-mig-catalog-'))
      copies.push(dir)
      // And a file that "creates" accounts again, indexes it, and drops created_at's default
      writeFileSync(
        join(dir, '001_again.sql'),
        'CREATE TABLE IF NOT EXISTS accounts (id bigint);\nCREATE INDEX accounts_created_idx ON accounts (created_at);\nALTER TABLE accounts ALTER COLUMN created_at DROP DEFAULT;\n',
      )
      // When it is applied, the catalog tells the linter accounts exists and created_at is NOT NULL
      const error = await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))
      expect(error.code).toBe('UNSAFE_MIGRATION')
      expect(error.details).toEqual([
        expect.stringMatching(/001_again\.sql:2:\d+: create-index /),
        expect.stringMatching(/001_again\.sql:3:\d+: drop-default .*NOT NULL column accounts\.created_at/),
      ])
      // Given a primary key onto email, which the catalog has nullable: its NOT NULL would scan the table
      writeFileSync(
        join(dir, '001_again.sql'),
        'CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON accounts (email);\nALTER TABLE accounts DROP CONSTRAINT accounts_pkey, ADD CONSTRAINT accounts_pkey PRIMARY KEY USING INDEX accounts_email_key;\n',
      )
      const keyed = await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))
      expect(keyed.details).toEqual([
        expect.stringMatching(
          /001_again\.sql:2:\d+: set-not-null .*USING INDEX accounts_email_key sets NOT NULL on accounts\.email/,
        ),
      ])
      // Given instead a table that is not there, created the same way, as drizzle-kit writes it
      writeFileSync(
        join(dir, '001_again.sql'),
        'CREATE TABLE IF NOT EXISTS notes (id bigint, body text);\nCREATE INDEX notes_body_idx ON notes (body);\n',
      )
      // Then it is new, and applies
      const result = await applyMigrations(client, { ...base, release: 'v3', dir, phase: 'expand' })
      expect(result.applied).toEqual(['001_again.sql'])
    })
  })

  it('takes the keys an UPDATE under a lock is pinned to from the catalog: a unique index over every row', async () => {
    await freshDatabase(async (client) => {
      // Given the accounts table, with a unique index on name and a partial one on email
      await applyMigrations(client, { ...base, dir: join(fixtures, 'expand'), phase: 'expand' })
      await client.query('CREATE UNIQUE INDEX accounts_name_key ON accounts (name)')
      await client.query('CREATE UNIQUE INDEX accounts_live_email ON accounts (email) WHERE plan IS NOT NULL')
      const dir = mkdtempSync(join(tmpdir(), 'bluegreen-mig-keys-'))
      copies.push(dir)
      const file = (where: string) =>
        writeFileSync(
          join(dir, '001_nickname.sql'),
          `ALTER TABLE accounts ADD COLUMN nickname text;\nUPDATE accounts SET nickname = 'ada' WHERE ${where};\n`,
        )
      // When the UPDATE after the ADD COLUMN picks rows by email (the partial index is no key)
      file("email = 'ada@example.com'")
      const error = await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))
      // Then it holds the ADD COLUMN's lock for a scan, and is refused
      expect(error.details).toEqual([
        expect.stringMatching(/001_nickname\.sql:2:1: long-statement-under-lock /),
      ])
      // When it picks its row by name, whose unique index only the catalog shows
      file("name = 'Ada'")
      // Then it is pinned to a key, and applies
      const result = await applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' })
      expect(result.applied).toEqual(['001_nickname.sql'])
    })
  })

  it('reads a table an earlier pending file creates as new: the running version does not use it', async () => {
    await freshDatabase(async (client) => {
      // Given a release's expand directory that creates a table in one file and indexes it in the next
      const dir = mkdtempSync(join(tmpdir(), 'bluegreen-mig-new-'))
      copies.push(dir)
      writeFileSync(
        join(dir, '001_widgets.sql'),
        'CREATE TABLE widgets (id bigint PRIMARY KEY, name text);\n',
      )
      writeFileSync(join(dir, '002_index.sql'), 'CREATE INDEX widgets_name_idx ON widgets (name);\n')
      // When both are applied together
      const result = await applyMigrations(client, { ...base, dir, phase: 'expand' })
      // Then the index on the new table passes the linter
      expect(result.applied).toEqual(['001_widgets.sql', '002_index.sql'])
      // But once widgets is in use, a later release's plain CREATE INDEX on it is refused
      writeFileSync(join(dir, '003_index.sql'), 'CREATE INDEX widgets_id_name_idx ON widgets (id, name);\n')
      const error = await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))
      expect(error.code).toBe('UNSAFE_MIGRATION')
      expect(error.details).toEqual([expect.stringMatching(/003_index\.sql:1:\d+: create-index /)])
    })
  })

  it('refuses BEGIN/COMMIT in a file before running anything', async () => {
    await freshDatabase(async (client) => {
      const dir = join(fixtures, 'with-transaction')
      const error = await failure(applyMigrations(client, { ...base, dir, phase: 'contract' }))
      expect(error.code).toBe('MIGRATION_FAILED')
      expect(error.message).toBe(`${join(dir, '001_commit.sql')}:2:1: COMMIT is not allowed in a migration`)
      expect(await appliedMigrations(client)).toEqual([])
    })
  })

  it('applies a file wrapped in BEGIN … COMMIT as its own transaction (ORM output), but not around CONCURRENTLY', async () => {
    await freshDatabase(async (client) => {
      // Given an accounts table, and Django's sqlmigrate output for two new columns, wrapper and all
      await applyMigrations(client, { ...base, dir: join(fixtures, 'expand'), phase: 'expand' })
      const dir = mkdtempSync(join(tmpdir(), 'bluegreen-mig-wrapped-'))
      copies.push(dir)
      writeFileSync(
        join(dir, '001_wrapped.sql'),
        'BEGIN;\n--\n-- Add fields\n--\nALTER TABLE accounts ADD COLUMN bio text;\nALTER TABLE accounts ADD COLUMN note text;\nCOMMIT;\n',
      )
      // When it is applied, linted as the expand phase does
      const result = await applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' })
      // Then both statements ran, and the file is recorded as applied
      expect(result.applied).toEqual(['001_wrapped.sql'])
      expect(await columns(client, 'accounts')).toEqual(expect.arrayContaining(['bio', 'note']))
      // Given a wrapper around a CREATE INDEX CONCURRENTLY, which cannot run inside one
      writeFileSync(
        join(dir, '002_index.sql'),
        'BEGIN;\nCREATE INDEX CONCURRENTLY accounts_bio_idx ON accounts (bio);\nCOMMIT;\n',
      )
      // Then it is refused before anything runs, where the BEGIN is
      const error = await failure(applyMigrations(client, { ...base, release: 'v3', dir, phase: 'expand' }))
      expect(error.code).toBe('MIGRATION_FAILED')
      expect(error.message).toBe(`${join(dir, '002_index.sql')}:1:1: BEGIN is not allowed in a migration`)
      const { rows } = await client.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'accounts_bio_idx'`)
      expect(rows).toEqual([])
    })
  })

  it('commits where the file’s BEGIN … COMMIT blocks do, and resumes after the committed block', async () => {
    await freshDatabase(async (client) => {
      // Given an accounts table, and a file of two blocks whose second fails
      await applyMigrations(client, { ...base, dir: join(fixtures, 'expand'), phase: 'expand' })
      const dir = mkdtempSync(join(tmpdir(), 'bluegreen-mig-blocks-'))
      copies.push(dir)
      const file = join(dir, '001_blocks.sql')
      const blocks = (second: string) =>
        `BEGIN;\nALTER TABLE accounts ADD COLUMN bio text;\nCOMMIT;\nBEGIN;\nALTER TABLE accounts ADD COLUMN note text;\n${second}\nCOMMIT;\n`
      writeFileSync(file, blocks('SELECT 1 / 0;'))
      // When it is applied
      const error = await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))
      // Then the first block committed and the second did not
      expect(error.code).toBe('MIGRATION_FAILED')
      expect(error.message).toContain('division by zero')
      expect(await columns(client, 'accounts')).toContain('bio')
      expect(await columns(client, 'accounts')).not.toContain('note')
      // When the second block is fixed after the committed first, and the file runs again
      writeFileSync(file, blocks('SELECT 1;'))
      const result = await applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' })
      // Then it resumes at the second block
      expect(result.applied).toEqual(['001_blocks.sql'])
      expect(await columns(client, 'accounts')).toEqual(expect.arrayContaining(['bio', 'note']))
    })
  })

  it('resumes a file that mixes CONCURRENTLY with other statements after its committed part', async () => {
    await freshDatabase(async (client) => {
      // Given an accounts table, and a file whose third statement fails after a CREATE INDEX CONCURRENTLY
      await applyMigrations(client, { ...base, dir: join(fixtures, 'expand'), phase: 'expand' })
      const dir = copyOf('mixed')
      const file = join(dir, '001_tags.sql')

      // When it is applied
      const error = await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))

      // Then the first two statements are committed and the error says so
      expect(error.message).toMatch(/001_tags\.sql:3:\d+: column "no_such_column" does not exist/)
      expect(error.hint).toMatch(/committed and recorded/)
      const { rows } = await client.query<{ statements_done: number; applied_at: Date | null }>(
        "SELECT statements_done, applied_at FROM bluegreen.migrations WHERE file = '001_tags.sql'",
      )
      expect(rows).toEqual([{ statements_done: 2, applied_at: null }])

      // When a committed statement is edited, the run is refused
      const original = readFileSync(file, 'utf8')
      writeFileSync(file, original.replace('tags text[]', 'tags varchar[]'))
      expect(
        (await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))).code,
      ).toBe('MIGRATION_CHANGED')

      // When instead the failing statement is fixed and the directory applied again
      writeFileSync(file, original.replace(' AND no_such_column', ''))
      const result = await applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' })

      // Then the file completes without re-running the index build (it would fail: "already exists")
      expect(result.applied).toEqual(['001_tags.sql'])
      const applied = await appliedMigrations(client, 'shop')
      expect(applied.find((m) => m.file === '001_tags.sql')?.checksum).toBe(
        (await listMigrations(dir))[0].checksum,
      )
    })
  })

  it('drops the invalid index a failed CREATE UNIQUE INDEX CONCURRENTLY left behind before trying again', async () => {
    await freshDatabase(async (client) => {
      // Given accounts with a duplicate email
      await applyMigrations(client, { ...base, dir: join(fixtures, 'expand'), phase: 'expand' })
      await client.query(
        "INSERT INTO accounts (name, email) VALUES ('a', 'x@example.com'), ('b', 'x@example.com')",
      )
      const dir = join(fixtures, 'unique-index')

      // When the unique index is built, it fails and leaves an invalid index
      const error = await failure(applyMigrations(client, { ...base, release: 'v2', dir, phase: 'expand' }))
      expect(error.message).toMatch(/could not create unique index "accounts_email_key"/)
      const validity = () =>
        client
          .query<{ valid: boolean }>(
            "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass('accounts_email_key')",
          )
          .then((r) => r.rows.map((row) => row.valid))
      expect(await validity()).toEqual([false])

      // When the data is fixed and the migration runs again
      await client.query("UPDATE accounts SET email = 'y@example.com' WHERE name = 'b'")
      const events: MigrationEvent[] = []
      await applyMigrations(client, {
        ...base,
        release: 'v2',
        dir,
        phase: 'expand',
        onEvent: (e) => events.push(e),
      })

      // Then the invalid index was dropped and built again, valid
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'migration.cleanup', index: 'public.accounts_email_key' }),
      )
      expect(await validity()).toEqual([true])
    })
  })

  it('completes a file whose CREATE INDEX CONCURRENTLY was killed mid-build, dropping the orphaned index', async () => {
    const url = await slowIndexDatabase()
    const options = { ...base, dir: join(fixtures, 'killed-index'), phase: 'expand' as const }

    // Given a runner building the index, whose session is terminated while it scans the table
    const first = await withClient(url, async (runner) => {
      const pid = await backendPid(runner)
      const building = failure(applyMigrations(runner, options))
      await withClient(url, async (dba) => {
        await until(() => buildingIndex(dba, pid))
        await dba.query('SELECT pg_terminate_backend($1)', [pid])
      })
      return building
    })
    // Then the failure does not claim that nothing was committed: an invalid index was left behind
    expect(first.code).toBe('MIGRATION_FAILED')
    expect(first.hint).not.toMatch(/nothing of this file was committed/)
    expect(first.hint).toMatch(/invalid index|run again/)
    await withClient(url, async (client) => expect(await kindIndexValidity(client)).toEqual([false]))

    // When the migration runs again, on a new connection
    const events: MigrationEvent[] = []
    const result = await withClient(url, (runner) =>
      applyMigrations(runner, { ...options, onEvent: (e) => events.push(e) }),
    )

    // Then the orphaned build was dropped, the index built again (valid), and the rest of the file ran
    expect(result.applied).toEqual(['001_index_kind.sql'])
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'migration.cleanup',
        index: 'public.events_kind_idx',
        action: 'dropped',
      }),
    )
    await withClient(url, async (client) => {
      expect(await kindIndexValidity(client)).toEqual([true])
      expect(await columns(client, 'events')).toEqual(['id', 'kind', 'seen'])
    })
  })

  it('waits for the build a dead runner left running, then completes the file without building again', async () => {
    const url = await slowIndexDatabase()
    const options = { ...base, dir: join(fixtures, 'killed-index'), phase: 'expand' as const }

    // Given a runner that dies mid-build (its socket closes) while the server goes on building
    const first = await withClient(url, async (runner) => {
      const pid = await backendPid(runner)
      const building = failure(applyMigrations(runner, options))
      await withClient(url, (dba) => until(() => buildingIndex(dba, pid)))
      ;(runner as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy()
      return building
    })
    expect(first.code).toBe('MIGRATION_FAILED')

    // When the migration runs again at once, on a new connection
    const events: MigrationEvent[] = []
    const result = await withClient(url, (runner) =>
      applyMigrations(runner, { ...options, onEvent: (e) => events.push(e) }),
    )

    // Then it waited for the old build, kept the index that build made, and ran the rest of the file
    expect(events.map((e) => e.type)).toContain('migration.wait')
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'migration.cleanup', index: 'public.events_kind_idx', action: 'kept' }),
    )
    expect(result.applied).toEqual(['001_index_kind.sql'])
    await withClient(url, async (client) => {
      expect(await kindIndexValidity(client)).toEqual([true])
      expect(await columns(client, 'events')).toEqual(['id', 'kind', 'seen'])
    })
  })

  it('validates a constraint after the ALTER that added it has committed, so the application is not stalled', async () => {
    const url = await createTestDatabase('migrations_validate')
    await withClient(url, async (setup) => {
      await setup.query('CREATE TABLE ledger (id bigint PRIMARY KEY, amount numeric)')
      await setup.query('INSERT INTO ledger SELECT g, g FROM generate_series(1, 300) g')
      await setup.query(
        'CREATE FUNCTION ledger_slow_positive(numeric) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN $1 > 0; END $$',
      )
    })
    const lockTimeoutMs = 500
    await withClient(url, (app) =>
      withClient(url, (dba) =>
        withClient(url, async (runner) => {
          // Given the application's connection, which gives up on any lock it waits for longer than lockTimeout
          await app.query(`SET lock_timeout = '${lockTimeoutMs}ms'`)
          const pid = await backendPid(runner)
          const validating = async () => {
            const { rows } = await dba.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%VALIDATE CONSTRAINT%'",
              [pid],
            )
            return rows[0].n === 1
          }

          // When a file adds a CHECK NOT VALID and validates it, and the application queries during the scan
          const migration = applyMigrations(runner, {
            ...base,
            dir: join(fixtures, 'validate'),
            phase: 'expand',
            lockTimeoutMs,
          })
          migration.catch(() => {}) // awaited below; a failed assertion first must not leave it unhandled
          await until(validating)
          const read = await app.query<{ amount: string }>('SELECT amount FROM ledger WHERE id = 1')
          await app.query('UPDATE ledger SET amount = 2 WHERE id = 2')

          // Then the application's read and write completed while the scan was still running
          expect(read.rows).toEqual([{ amount: '1' }])
          expect(await validating()).toBe(true)
          // And the file completed, with the constraint validated and the statement after it applied
          expect((await migration).applied).toEqual(['001_check_amount.sql'])
          const { rows } = await dba.query<{ validated: boolean }>(
            "SELECT convalidated AS validated FROM pg_constraint WHERE conname = 'ledger_amount_positive'",
          )
          expect(rows).toEqual([{ validated: true }])
          expect(await columns(dba, 'ledger')).toEqual(['id', 'amount', 'checked_at'])
        }),
      ),
    )
  })

  it('lints type changes and SET NOT NULL against the live catalog when the file alone cannot tell', async () => {
    await freshDatabase(async (client) => {
      // Given profiles whose name is varchar(50), code varchar(10), and email proven by a validated check
      await client.query(
        'CREATE TABLE profiles (id bigint PRIMARY KEY, name varchar(50), code varchar(10), email text CONSTRAINT profiles_email_nn CHECK (email IS NOT NULL))',
      )

      // When a file widens name and sets email NOT NULL, and another shortens code
      const safe = await applyMigrations(client, {
        ...base,
        dir: join(fixtures, 'catalog-safe'),
        phase: 'expand',
      })
      const dir = join(fixtures, 'catalog-unsafe')
      const error = await failure(applyMigrations(client, { ...base, dir, phase: 'expand' }))

      // Then the widening and the proven NOT NULL run, and the shortening is refused as a rewrite
      expect(safe.applied).toEqual(['001_widen_name.sql'])
      expect(error.code).toBe('UNSAFE_MIGRATION')
      expect(error.details).toEqual([
        expect.stringMatching(
          /001_shorten_code\.sql:2:\d+: alter-column-type .*profiles\.code from varchar\(10\) to varchar\(5\)/,
        ),
      ])
    })
  })

  it('retries behind a conflicting lock without stalling the application longer than lockTimeout', async () => {
    const url = await createTestDatabase('migrations_lock')
    await withClient(url, async (setup) => {
      await setup.query('CREATE TABLE ledger (id bigint PRIMARY KEY, amount numeric)')
      await setup.query('INSERT INTO ledger SELECT g, g FROM generate_series(1, 1000) g')
    })
    const lockTimeoutMs = 200
    await withClient(url, (blocker) =>
      withClient(url, (app) =>
        withClient(url, async (runner) => {
          // Given a long transaction that has read the table (it holds ACCESS SHARE until it ends)
          await blocker.query('BEGIN')
          await blocker.query('SELECT count(*) FROM ledger')

          // And the application querying the table all the time, measuring how long each query takes
          let stop = false
          let maxStallMs = 0
          let queries = 0
          const appLoop = (async () => {
            while (!stop) {
              const started = performance.now()
              await app.query('SELECT sum(amount) FROM ledger')
              maxStallMs = Math.max(maxStallMs, performance.now() - started)
              queries++
              await new Promise((resolve) => setTimeout(resolve, 10))
            }
          })()

          // When a migration needing ACCESS EXCLUSIVE on the table runs, and the blocker commits 1.5 s later
          const retries: MigrationEvent[] = []
          const startedAt = performance.now()
          const migration = applyMigrations(runner, {
            ...base,
            dir: join(fixtures, 'lock'),
            phase: 'expand',
            lockTimeoutMs,
            attempts: 50,
            baseDelayMs: 50,
            maxDelayMs: 300,
            onEvent: (e) => {
              if (e.type === 'migration.retry') retries.push(e)
            },
          })
          await new Promise((resolve) => setTimeout(resolve, 1500))
          await blocker.query('COMMIT')
          const committedAt = performance.now() - startedAt
          const result = await migration
          const finishedAt = performance.now() - startedAt
          stop = true
          await appLoop

          // Then the migration retried while blocked, reporting each retry
          expect(retries.length).toBeGreaterThanOrEqual(3)
          expect(retries[0]).toMatchObject({
            type: 'migration.retry',
            file: '001_add_flag.sql',
            line: 1,
            attempt: 2,
            attempts: 50,
          })
          expect(retries.every((e) => e.type === 'migration.retry' && /lock timeout/.test(e.reason))).toBe(
            true,
          )
          // And the application was held up at most lockTimeout (plus scheduling slack) at a time, not 1.5 s
          expect(queries).toBeGreaterThan(20)
          expect(maxStallMs).toBeGreaterThan(50)
          expect(maxStallMs).toBeLessThan(lockTimeoutMs + 200)
          // And once the blocker committed, the migration completed by itself
          expect(result.applied).toEqual(['001_add_flag.sql'])
          expect(finishedAt).toBeGreaterThan(committedAt)
          expect(await columns(runner, 'ledger')).toContain('flagged')
        }),
      ),
    )
  })

  it('gives up with LOCK_TIMEOUT naming the statement when the lock never comes', async () => {
    const url = await createTestDatabase('migrations_lock')
    await withClient(url, (setup) => setup.query('CREATE TABLE ledger (id bigint PRIMARY KEY)'))
    await withClient(url, (blocker) =>
      withClient(url, async (runner) => {
        // Given a transaction that never ends while the migration runs
        await blocker.query('BEGIN')
        await blocker.query('SELECT * FROM ledger')
        // When the migration runs with 3 attempts
        const dir = join(fixtures, 'lock')
        const error = await failure(
          applyMigrations(runner, {
            ...base,
            dir,
            phase: 'expand',
            lockTimeoutMs: 50,
            attempts: 3,
            baseDelayMs: 10,
          }),
        )
        await blocker.query('ROLLBACK')
        // Then it gives up, naming file:line and the attempts
        expect(error.code).toBe('LOCK_TIMEOUT')
        expect(error.message).toContain(
          `${join(dir, '001_add_flag.sql')}:1:1: no lock after 3 attempts of 50 ms each`,
        )
        expect(await appliedMigrations(runner)).toEqual([])
      }),
    )
  })

  it('applies only the files asked for, and refuses them if they differ from the recorded checksums', async () => {
    await freshDatabase(async (client) => {
      const dir = join(fixtures, 'expand')
      const [first] = await listMigrations(dir)
      const wrong = { '002_add_email.sql': '0'.repeat(64) }
      const error = await failure(
        applyMigrations(client, {
          ...base,
          dir,
          phase: 'contract',
          files: ['002_add_email.sql'],
          expectedChecksums: wrong,
        }),
      )
      expect(error.code).toBe('MIGRATION_CHANGED')
      const result = await applyMigrations(client, {
        ...base,
        dir,
        phase: 'contract',
        files: [first.file],
        expectedChecksums: { [first.file]: first.checksum },
      })
      expect(result).toEqual({ applied: [first.file], skipped: [] })
    })
  })
})
