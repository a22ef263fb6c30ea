/**
 * The PostgreSQL journal's release lock, on the shared test server: one holder at a time, its
 * connection opened early for commands that lock, and that connection recovered when it was
 * dropped meanwhile (a confirmation prompt left open, an idle connection cut by a proxy).
 */
import { describe, expect, it } from 'vitest'
import { withClient, type Client } from '../../src/db/client.js'
import { withPostgresJournal } from '../../src/journal/postgres.js'
import type { LockHolder } from '../../src/journal/journal.js'
import { createTestDatabase } from '../support/postgres.js'

const holder = (command: string): LockHolder => ({
  holder: 'tester',
  pid: process.pid,
  host: 'localhost',
  since: new Date().toISOString(),
  command,
})

/** Waits (up to 5 s) until `count` of our other connections to `url` are open; returns their pids. */
async function waitForBackends(url: string, count: number): Promise<number[]> {
  const deadline = Date.now() + 5000
  for (;;) {
    const pids = await otherBluegreenBackends(url)
    if (pids.length >= count || Date.now() > deadline) return pids
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Our connections to `url` other than the asking one, by backend pid. */
async function otherBluegreenBackends(url: string): Promise<number[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'bluegreen' AND pid <> pg_backend_pid()`,
    )
    return rows.map((r) => r.pid)
  })
}

describe('PostgreSQL journal: the release lock', () => {
  it('lets one holder in at a time, naming it to the next, and frees it when done', async () => {
    const url = await createTestDatabase('journal')
    await withPostgresJournal(url, async (first) => {
      await first.withLock('shop', holder('bluegreen release shop.yaml'), async () => {
        await withPostgresJournal(url, async (second) => {
          const refused = second.withLock('shop', holder('bluegreen rollback'), async () => 'ran')
          await expect(refused).rejects.toMatchObject({ code: 'LOCKED' })
          await expect(refused).rejects.toThrow(/bluegreen release shop\.yaml/)
          // Another app is not blocked.
          await expect(second.withLock('blog', holder('bluegreen release'), async () => 'ran')).resolves.toBe(
            'ran',
          )
        })
      })
      // Released: the next holder gets in.
      await expect(first.withLock('shop', holder('again'), async () => 'ran')).resolves.toBe('ran')
    })
  })

  it('opens the lock connection early when asked, and closes it when the lock was never taken', async () => {
    const url = await createTestDatabase('journal')
    await withPostgresJournal(
      url,
      async () => {
        // The journal's connection, and the early lock connection beside it.
        expect(await waitForBackends(url, 2)).toHaveLength(2)
      },
      { lockConnection: true },
    )
    expect(await otherBluegreenBackends(url)).toEqual([])
  })

  it('takes the lock on a fresh connection when the early one was dropped meanwhile', async () => {
    const url = await createTestDatabase('journal')
    await withPostgresJournal(
      url,
      async (journal) => {
        // Given the early lock connection cut by the server (as an idle timeout or a proxy would)
        const journalPid = await backendPid(journal.connection)
        const early = (await waitForBackends(url, 2)).filter((pid) => pid !== journalPid)
        expect(early).toHaveLength(1)
        await withClient(url, (client) => client.query('SELECT pg_terminate_backend($1)', [early[0]]))
        // When the command takes the lock, then it holds it, on a new connection
        const ran = await journal.withLock('shop', holder('bluegreen rollback'), async () => {
          const { rows } = await journal.connection.query<{ holder: string }>(
            `SELECT command AS holder FROM bluegreen.locks WHERE app = 'shop'`,
          )
          return rows.map((r) => r.holder)
        })
        expect(ran).toEqual(['bluegreen rollback'])
      },
      { lockConnection: true },
    )
    expect(await otherBluegreenBackends(url)).toEqual([])
  })
})

async function backendPid(client: Client): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  return rows[0].pid
}

describe('pool standings and the fenced lock, on PostgreSQL', () => {
  it('gives a journal written before standings its standings, from its standby row', async () => {
    // Given a journal of the previous shape: pools without standing, the standby apart
    const url = await createTestDatabase('jupgrade')
    const { journalSchemaV1 } = await import('../../src/journal/postgres.js')
    await withClient(url, async (client) => {
      await client.query(journalSchemaV1)
      await client.query(`INSERT INTO bluegreen.pools (app, pool, version, release_seq) VALUES
        ('shop', 'blue', '1.0.0', 0), ('shop', 'green', '2.0.0', 1)`)
      await client.query(`INSERT INTO bluegreen.standby (app, pool, version, release_seq, until)
        VALUES ('shop', 'blue', '1.0.0', 0, '2030-01-01T00:00:00Z')`)
    })
    // When bluegreen opens it
    const pools = await withPostgresJournal(url, (journal) => journal.pools('shop'))
    // Then the standby keeps its window and the other pool is live
    expect(pools.blue).toMatchObject({
      standing: 'standby',
      version: '1.0.0',
      until: '2030-01-01T00:00:00.000Z',
    })
    expect(pools.green).toMatchObject({ standing: 'live', version: '2.0.0' })
    // And the schema keeps the rule: never two live pools
    await expect(
      withClient(url, (client) =>
        client.query(`UPDATE bluegreen.pools SET standing = 'live', until = NULL WHERE app = 'shop'`),
      ),
    ).rejects.toThrow(/one_live_pool_per_app/)
  })

  it('keeps the lock through an idle_session_timeout set for the database, and knows when it is cut', async () => {
    // Given a database that cuts idle sessions after 200 ms
    const url = await createTestDatabase('jfence')
    const database = new URL(url).pathname.slice(1)
    await withClient(url, (client) =>
      client.query(`ALTER DATABASE "${database}" SET idle_session_timeout = '200ms'`),
    )
    await withPostgresJournal(
      url,
      async (journal) => {
        await journal.withLock('shop', holder('bluegreen release'), async (lease) => {
          // When the holder idles longer than that
          await new Promise((resolve) => setTimeout(resolve, 600))
          // Then its lock's session is still there (it turns the limit off for itself)
          await expect(lease.verify()).resolves.toBeUndefined()
          // When the session is cut anyway
          await withClient(url, (client) =>
            client.query(`SELECT pg_terminate_backend(backend_pid) FROM bluegreen.locks WHERE app = 'shop'`),
          )
          // Then the next check says so, and the lock is free for another command
          await expect(lease.verify()).rejects.toMatchObject({ code: 'LOCK_LOST', exitCode: 4 })
        })
      },
      { lockConnection: true },
    )
    // And the journal's own connection, idle as long, still writes
    await withPostgresJournal(url, async (journal) => {
      await new Promise((resolve) => setTimeout(resolve, 400))
      await expect(
        journal.audit({ app: 'shop', action: 'test', actor: 'tester', detail: 'idle' }),
      ).resolves.toBeUndefined()
    })
  })

  it('never terminates a session that took a stale lock row’s backend pid: only the one holding the lock', async () => {
    // Given a lock row whose session is gone, and whose backend pid the server now gives another
    // session (here: a live session of the same server that holds no release lock)
    const url = await createTestDatabase('jpidreuse')
    await withPostgresJournal(url, async (journal) => {
      await journal.withLock('shop', holder('bluegreen release'), async () => {})
    })
    await withClient(url, async (bystander) => {
      const pid = await backendPidOf(bystander)
      await withClient(url, (client) =>
        client.query(
          `INSERT INTO bluegreen.locks (app, holder, pid, host, since, command, backend_pid)
           VALUES ('shop', 'ci-bot', 2147483000, 'gone-host', now(), 'bluegreen release', $1)
           ON CONFLICT (app) DO UPDATE SET backend_pid = EXCLUDED.backend_pid, holder = EXCLUDED.holder`,
          [pid],
        ),
      )
      await withPostgresJournal(url, async (journal) => {
        // When status asks who holds the lock, and `unlock --force` clears it
        expect(await journal.lockHolder('shop')).toBeUndefined()
        expect(await journal.forceUnlock('shop')).toMatchObject({ holder: 'ci-bot' })
      })
      // Then the bystander's session is untouched, and the row is gone
      await expect(bystander.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] })
    })
    await withClient(url, async (client) => {
      expect((await client.query(`SELECT * FROM bluegreen.locks WHERE app = 'shop'`)).rows).toEqual([])
    })
  })

  it('terminates the session that does hold the lock, on unlock --force', async () => {
    const url = await createTestDatabase('jforce')
    await withPostgresJournal(
      url,
      async (journal) => {
        await journal.withLock('shop', holder('bluegreen release'), async (lease) => {
          await withPostgresJournal(url, async (other) => {
            expect(await other.lockHolder('shop')).toMatchObject({ holder: 'tester' })
            expect(await other.forceUnlock('shop')).toMatchObject({ holder: 'tester' })
          })
          await expect(lease.verify()).rejects.toMatchObject({ code: 'LOCK_LOST' })
        })
      },
      { lockConnection: true },
    ).catch((error: unknown) => expect(error).toMatchObject({ code: 'LOCK_LOST' }))
  })
})

async function backendPidOf(client: Client): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  return rows[0].pid
}
