import { describe, expect, it } from 'vitest'
import { withClient } from '../../src/db/client.js'
import { ensureStateSchema } from '../../src/db/state-schema.js'
import { createTestDatabase } from '../support/postgres.js'

describe('state schema', () => {
  it('is created once even when many callers race to create it', async () => {
    // Given a fresh database and eight connections
    const url = await createTestDatabase('state')

    // When all of them ensure the state schema at the same time
    await Promise.all(Array.from({ length: 8 }, () => withClient(url, (client) => ensureStateSchema(client))))

    // Then the tables exist once, at the current version
    await withClient(url, async (client) => {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'bluegreen' ORDER BY 1",
      )
      expect(rows.map((r) => r.table_name)).toEqual([
        'backfills',
        'contract_files',
        'contracts',
        'migrations',
        'state_schema',
        'syncs',
      ])
      const version = await client.query<{ version: number }>('SELECT version FROM bluegreen.state_schema')
      expect(version.rows).toEqual([{ version: 3 }])
    })
  })

  it('refuses to change an applied migration’s record', async () => {
    const url = await createTestDatabase('state')
    await withClient(url, async (client) => {
      await ensureStateSchema(client)
      await client.query(
        `INSERT INTO bluegreen.migrations (app, phase, file, checksum, committed_checksum, release, statements_done, applied_at, duration_ms)
         VALUES ('shop', 'expand', '001.sql', repeat('a', 64), repeat('a', 64), 'v1', 1, now(), 5)`,
      )
      await expect(
        client.query("UPDATE bluegreen.migrations SET checksum = repeat('b', 64)"),
      ).rejects.toThrow(/was applied at .* and cannot change/)
      await expect(
        client.query(
          "INSERT INTO bluegreen.migrations (app, phase, file, checksum, committed_checksum, release) VALUES ('shop', 'deploy', 'x.sql', repeat('a', 64), repeat('a', 64), 'v1')",
        ),
      ).rejects.toThrow(/check constraint/)
    })
  })
})
