/**
 * Issue 15 on the real PostgreSQL: migration directories as Kubernetes and people lay them out
 * are applied (and linted) exactly as listed, and a connection that goes away in the middle of
 * a migration or a backfill says so, instead of blaming the statement.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { backfill } from '../../src/db/backfill.js'
import { withClient } from '../../src/db/client.js'
import { applyMigrations, listMigrations } from '../../src/db/migrations.js'
import type { BluegreenError } from '../../src/errors.js'
import { runCli } from '../support/cli.js'
import { configMap } from '../support/migration-dirs.js'
import { createTestDatabase, havePostgres } from '../support/postgres.js'

const roots: string[] = []
afterAll(() => roots.forEach((dir) => rmSync(dir, { recursive: true, force: true })))
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bluegreen-migdir-'))
  roots.push(dir)
  return dir
}

const base = { app: 'shop', release: 'v1', lockTimeoutMs: 1000, statementTimeoutMs: 60_000 }
const files = {
  '001_items.sql': 'CREATE TABLE items (id bigint PRIMARY KEY, name text);\n',
  '002_price.sql': 'ALTER TABLE items ADD COLUMN price numeric;\n',
}

async function columns(url: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position",
    )
    return rows.map((r) => r.column_name)
  })
}

describe.runIf(havePostgres())('migration directories as users have them', () => {
  it('applies a ConfigMap mount (every file a link through ..data), and lint sees the same files', async () => {
    // Given a directory laid out as kubelet mounts a ConfigMap
    const dir = tempDir()
    configMap(dir, files)
    const url = await createTestDatabase('migdir')

    // When it is applied
    const result = await withClient(url, (client) =>
      applyMigrations(client, { ...base, dir, phase: 'expand' }),
    )

    // Then both files ran (before, symlinks were skipped: "applied 0 migrations")
    expect(result.applied).toEqual(['001_items.sql', '002_price.sql'])
    expect(await columns(url)).toEqual(['id', 'name', 'price'])
    // And lint checks exactly those files, by their real path
    const lint = await runCli(['lint', dir, '--json'])
    expect(lint.code).toBe(0)
    const listed = await listMigrations(dir)
    expect((JSON.parse(lint.stdout) as { files: string[] }).files).toEqual(listed.map((m) => m.realPath))
    expect(listed.map((m) => m.realPath)).toEqual(
      Object.keys(files).map((f) => join(dir, '..2026_05_01_10_00_00.123456789', f)),
    )
  })

  it('applies a symlinked directory', async () => {
    const real = tempDir()
    for (const [name, sql] of Object.entries(files)) writeFileSync(join(real, name), sql)
    const dir = join(tempDir(), 'expand')
    symlinkSync(real, dir)
    const url = await createTestDatabase('migdir')
    const result = await withClient(url, (client) =>
      applyMigrations(client, { ...base, dir, phase: 'expand' }),
    )
    expect(result.applied).toEqual(Object.keys(files))
  })

  it('refuses an entry that is not a file once followed, naming it, before running anything', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, '001_items.sql'), files['001_items.sql'])
    mkdirSync(join(dir, '002_oops.sql'))
    const url = await createTestDatabase('migdir')
    const error = await withClient(url, (client) =>
      applyMigrations(client, { ...base, dir, phase: 'expand' }).then(
        () => undefined,
        (e: unknown) => e as BluegreenError,
      ),
    )
    expect(error?.message).toBe(`migration ${join(dir, '002_oops.sql')} is a directory`)
    expect(await columns(url)).toEqual([])
    // And lint refuses the same directory the same way
    const lint = await runCli(['lint', dir])
    expect(lint.code).toBe(2)
    expect(lint.stderr).toContain(`${join(dir, '002_oops.sql')} is a directory`)
  })
})

describe.runIf(havePostgres())('a connection lost during a database step', () => {
  it('is DATABASE_UNREACHABLE with the resume hint during a migration, not MIGRATION_FAILED', async () => {
    // Given a migration during which the server drops the connection
    const dir = tempDir()
    writeFileSync(join(dir, '001_items.sql'), files['001_items.sql'])
    writeFileSync(join(dir, '002_cut.sql'), 'SELECT pg_terminate_backend(pg_backend_pid());\n')
    const url = await createTestDatabase('migdir')

    // When it is applied
    const error = await withClient(url, (client) =>
      applyMigrations(client, { ...base, dir, phase: 'expand', lint: false }),
    ).then(
      () => undefined,
      (e: unknown) => e as BluegreenError,
    )

    // Then the error says what happened and what to do
    expect(error?.code).toBe('DATABASE_UNREACHABLE')
    expect(error?.message).toContain('the connection to PostgreSQL was lost')
    expect(error?.hint).toContain('--resume')
    expect(error?.exitCode).toBe(1)
  })

  it('is DATABASE_UNREACHABLE during a backfill, not BACKFILL_FAILED', async () => {
    const url = await createTestDatabase('migdir')
    await withClient(url, async (client) => {
      await client.query('CREATE TABLE items (id bigint PRIMARY KEY, name text, copy boolean)')
      await client.query("INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 10) g")
    })
    const error = await backfill(url, {
      table: 'items',
      set: 'copy = pg_terminate_backend(pg_backend_pid())',
      where: 'copy IS NULL',
      batchSize: 5,
      lockTimeoutMs: 1000,
      statementTimeoutMs: 60_000,
    }).then(
      () => undefined,
      (e: unknown) => e as BluegreenError,
    )
    expect(error?.code).toBe('DATABASE_UNREACHABLE')
    expect(error?.hint).toContain('--resume')
  })
})
