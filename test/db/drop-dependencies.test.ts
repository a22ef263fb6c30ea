import { describe, expect, it } from 'vitest'
import { withClient } from '../../src/db/client.js'
import { dropDependencies, droppedColumns } from '../../src/db/drop-dependencies.js'
import { parseSqlFile } from '../../src/db/sql-file.js'
import { installSync, tableSyncs } from '../../src/db/sync.js'
import { createTestDatabase } from '../support/postgres.js'

describe('what still depends on a column a contract drops', () => {
  it('finds a hand-written trigger, a view and another release’s active sync, not its own sync', async () => {
    const url = await createTestDatabase('dropdeps')
    await withClient(url, async (client) => {
      // Given profiles with a hand-written trigger and a view that use name
      await client.query(
        'CREATE TABLE profiles (id int PRIMARY KEY, name text, first_name text, nick text, bio text)',
      )
      await client.query(`CREATE FUNCTION keep_nick() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.nick := coalesce(NEW.nick, NEW.name); RETURN NEW; END $$`)
      await client.query(
        'CREATE TRIGGER keep_nick BEFORE INSERT ON profiles FOR EACH ROW EXECUTE FUNCTION keep_nick()',
      )
      await client.query('CREATE VIEW names AS SELECT id, name FROM profiles')
      const sync = (
        release: string,
        releaseSeq: number,
        forward: Record<string, string>,
        backward: Record<string, string>,
      ) =>
        installSync(client, tableSyncs([{ table: 'profiles', forward, backward }])[0], {
          app: 'shop',
          release,
          version: release,
          releaseSeq,
          lockTimeoutMs: 500,
        })
      // And this release's own sync of name, and another release's sync that reads nick
      await sync('r2', 2, { first_name: 'name' }, { name: 'first_name' })
      await sync('r3', 3, { nick: 'first_name' }, { first_name: 'nick' })
      const { statements } = await parseSqlFile(
        'ALTER TABLE profiles DROP COLUMN name, DROP COLUMN nick;',
        'c.sql',
      )
      const dropped = droppedColumns(statements)
      expect(dropped).toEqual([
        { table: 'profiles', column: 'name' },
        { table: 'profiles', column: 'nick' },
      ])

      // When r2's contract asks what depends on them
      const found = await dropDependencies(client, 'shop', 'r2', dropped)
      // Then it names the view and the trigger for name, the trigger and r3's sync for nick, and not r2's own sync
      expect(found).toEqual([
        'view public.names reads public.profiles.name',
        'trigger keep_nick on public.profiles (function keep_nick()) names name',
        'trigger keep_nick on public.profiles (function keep_nick()) names nick',
        'the active sync bluegreen_sync_shop_profiles_3 of release r3 uses public.profiles.nick',
      ])
      // And a column nothing uses is clear
      expect(await dropDependencies(client, 'shop', 'r2', [{ table: 'profiles', column: 'bio' }])).toEqual([])
    })
  })
})
