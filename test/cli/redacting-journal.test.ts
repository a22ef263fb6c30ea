/**
 * The journal decorator: whatever a caller hands the journal, the store never receives a secret.
 * Real stores: the state file, and PostgreSQL's bluegreen schema read back as raw rows.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { redactingJournal } from '../../src/cli/redacting-journal.js'
import { withClient } from '../../src/db/client.js'
import { PostgresJournal, withPostgresJournal } from '../../src/journal/postgres.js'
import { FileJournal } from '../../src/journal/file.js'
import { currentHolder, type Journal } from '../../src/journal/journal.js'
import { createTestDatabase, havePostgres } from '../support/postgres.js'

const secret = 'J0urnal-S3cret-pw'
const leaky = `GET http://monitor:${secret}@shop/healthz?token=${secret} failed`
const dir = mkdtempSync(join(tmpdir(), 'bluegreen-rj-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** One of each kind of write, every string holding the secret. */
async function writeEverything(journal: Journal): Promise<void> {
  const holder = { ...currentHolder(`bluegreen release plan.yaml --token=${secret}`) }
  await journal.withLock('shop', holder, async () => {
    const release = await journal.startRelease({
      app: 'shop',
      version: '1.0.0',
      planHash: 'h',
      from: 'blue',
      to: 'green',
    })
    await journal.stepStarted(release.id, 0, 'verify')
    await journal.stepFinished(release.id, 0, 'failed', 5, leaky)
    await journal.finishRelease(release.id, { status: 'failed', error: leaky })
    await journal.setPools('shop', [
      {
        pool: 'green',
        version: '1.0.0',
        releaseSeq: release.seq,
        standing: 'candidate',
        since: new Date().toISOString(),
      },
    ])
    const rollback = await journal.startRollback({
      app: 'shop',
      from: 'green',
      to: 'blue',
      reason: leaky,
      automatic: false,
      forced: false,
      actor: 'ci',
    })
    await journal.finishRollback(
      rollback.id,
      { ms: 5 },
      { app: 'shop', action: 'rollback', actor: 'ci', detail: leaky },
    )
    await journal.audit({ app: 'shop', action: 'rollback', actor: 'ci', detail: leaky })
  })
}

describe('redactingJournal', () => {
  it('keeps every secret out of the state file', async () => {
    const file = join(dir, 'shop.state.json')
    await writeEverything(redactingJournal(new FileJournal(file)))
    const text = readFileSync(file, 'utf8')
    expect(text).toContain('monitor:***@shop')
    expect(text).not.toContain(secret)
  })

  it('without it, the state file would hold the secret (the test can fail)', async () => {
    const file = join(dir, 'raw.state.json')
    await writeEverything(new FileJournal(file))
    expect(readFileSync(file, 'utf8')).toContain(secret)
  })

  it.runIf(havePostgres())(
    'keeps every secret out of the PostgreSQL journal, and stays the store it wraps',
    async () => {
      const url = await createTestDatabase('rj')
      await withPostgresJournal(url, async (store) => {
        const journal = redactingJournal(store)
        expect(journal).toBeInstanceOf(PostgresJournal)
        expect(journal.kind).toBe('postgres')
        expect(journal.connection).toBe(store.connection)
        await writeEverything(journal)
        expect((await journal.releases('shop', 1))[0].error).toContain('token=***')
      })
      const dump = await withClient(url, async (client) => {
        const { rows } = await client.query<{ name: string }>(
          "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'bluegreen'",
        )
        let text = ''
        for (const { name } of rows) {
          const result = await client.query<{ row: string }>(
            `SELECT row_to_json(t)::text AS row FROM bluegreen.${name} t`,
          )
          text += result.rows.map((r) => r.row).join('\n')
        }
        return text
      })
      expect(dump).toContain('monitor:***@shop')
      expect(dump).not.toContain(secret)
    },
  )
})
