/**
 * Issue 14, end to end on the built CLI: the README's column change (name → first_name +
 * last_name) declared as a sync, with both versions writing as they would, through release →
 * rollback → release again → retire → contract. Every row is checked against what its last
 * write meant.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { withClient, type Client } from '../../src/db/client.js'
import { bluegreen, e2ePlan, repoRoot, sql, startE2eStack, type E2eStack } from '../support/e2e.js'

const syncPlan = join(repoRoot, 'test/fixtures/sync/plan.yaml')
const laterPlan = join(repoRoot, 'test/fixtures/sync/later.yaml')

let stack: E2eStack | undefined
let writers: Writers | undefined
afterEach(async () => {
  await writers?.stop()
  writers = undefined
  await stack?.close()
  stack = undefined
})

/** What a row's last write meant: the old version wrote a name, or the new one first and last. */
type Meaning = { by: 'old'; name: string } | { by: 'new'; first: string; last: string | null }

function expected(meaning: Meaning): { name: string; first: string; last: string | null } {
  if (meaning.by === 'new') {
    return {
      name: [meaning.first, meaning.last].filter(Boolean).join(' '),
      first: meaning.first,
      last: meaning.last,
    }
  }
  const [first, last] = meaning.name.split(' ')
  return { name: meaning.name, first, last: last || null }
}

/**
 * Both versions writing: the old one inserts and updates `name` only, the new one `first_name`
 * and `last_name` only. Updates keep to even ids (old) and odd ids (new), so each row's last write
 * is known without racing the other writer on the same row; inserts land anywhere.
 */
class Writers {
  readonly meanings = new Map<number, Meaning>()
  private loops = new Map<'old' | 'new', Promise<void>>()
  private counter = 0
  writes = { old: 0, new: 0 }

  constructor(
    private readonly clients: { old: Client; new: Client },
    seeded: { id: number; name: string }[],
  ) {
    for (const row of seeded) this.meanings.set(row.id, { by: 'old', name: row.name })
  }

  start(version: 'old' | 'new'): void {
    if (!this.loops.has(version)) this.loops.set(version, this.loop(version))
  }

  /** Stops one version's writes and waits for its last one to finish. */
  async pause(version: 'old' | 'new'): Promise<void> {
    const loop = this.loops.get(version)
    this.loops.delete(version)
    await loop
  }

  async stop(): Promise<void> {
    await Promise.all([this.pause('old'), this.pause('new')])
    await Promise.all([this.clients.old.end(), this.clients.new.end()])
  }

  private async loop(version: 'old' | 'new'): Promise<void> {
    // Started by start(); ends once pause() has removed it.
    await Promise.resolve()
    while (this.loops.has(version)) {
      await this.write(version)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  private words(): [string, string | null] {
    const n = ++this.counter
    // Now and then a one-word name: forward gives last_name NULL, backward gives the one word.
    return [`F${n}`, n % 7 === 0 ? null : `L${n}`]
  }

  private pick(parity: 0 | 1): number | undefined {
    const ids = [...this.meanings.keys()].filter((id) => id % 2 === parity)
    return ids[Math.floor(Math.random() * ids.length)]
  }

  async write(version: 'old' | 'new'): Promise<void> {
    const client = this.clients[version]
    const [first, last] = this.words()
    const insert = Math.random() < 0.4
    if (version === 'old') {
      const name = [first, last].filter(Boolean).join(' ')
      const id = insert ? undefined : this.pick(0)
      const { rows } =
        id === undefined
          ? await client.query<{ id: string }>('INSERT INTO profiles (name) VALUES ($1) RETURNING id', [name])
          : await client.query<{ id: string }>('UPDATE profiles SET name = $1 WHERE id = $2 RETURNING id', [
              name,
              id,
            ])
      this.meanings.set(Number(rows[0].id), { by: 'old', name })
    } else {
      const id = insert ? undefined : this.pick(1)
      const { rows } =
        id === undefined
          ? await client.query<{ id: string }>(
              'INSERT INTO profiles (first_name, last_name) VALUES ($1, $2) RETURNING id',
              [first, last],
            )
          : await client.query<{ id: string }>(
              'UPDATE profiles SET first_name = $1, last_name = $2 WHERE id = $3 RETURNING id',
              [first, last, id],
            )
      this.meanings.set(Number(rows[0].id), { by: 'new', first, last })
    }
    this.writes[version]++
  }
}

/** Every row as each version reads it, against what its last write meant; returns the mismatches. */
async function staleRows(url: string, meanings: Map<number, Meaning>, withName: boolean): Promise<string[]> {
  const rows = await sql<{ id: string; name?: string; first_name: string | null; last_name: string | null }>(
    url,
    `SELECT id, ${withName ? 'name, ' : ''}first_name, last_name FROM profiles ORDER BY id`,
  )
  const problems: string[] = []
  if (rows.length !== meanings.size) problems.push(`${rows.length} rows, ${meanings.size} written`)
  for (const row of rows) {
    const meaning = meanings.get(Number(row.id))
    if (!meaning) {
      problems.push(`row ${row.id} was never written`)
      continue
    }
    const want = expected(meaning)
    const got = { name: withName ? row.name : want.name, first: row.first_name, last: row.last_name }
    if (JSON.stringify(got) !== JSON.stringify(want))
      problems.push(`row ${row.id}: ${JSON.stringify(got)}, meant ${JSON.stringify(want)}`)
  }
  return problems
}

const triggers = (url: string) =>
  sql<{ tgname: string }>(
    url,
    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'profiles'::regclass AND NOT tgisinternal",
  )

async function activeSyncs(env: Record<string, string>): Promise<unknown[]> {
  const status = await bluegreen(['status', syncPlan, '--json'], env)
  expect(status.code, status.stderr).toBe(0)
  return (JSON.parse(status.stdout.trim().split('\n').at(-1)!) as { activeSyncs: unknown[] }).activeSyncs
}

describe('declared sync, end to end', () => {
  it('keeps every row right for both versions through release, rollback, re-release, retire and contract', async () => {
    // Given the seeded 1.0.0 schema (profiles.name only) and the old version writing
    stack = await startE2eStack({ profiles: 300 })
    const { cliEnv: env, databaseUrl: url } = stack
    const seeded = await sql<{ id: string; name: string }>(url, 'SELECT id, name FROM profiles')
    const connect = async () => {
      const { default: pg } = await import('pg')
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }
    writers = new Writers(
      { old: await connect(), new: await connect() },
      seeded.map((r) => ({ id: Number(r.id), name: r.name })),
    )
    writers.start('old')
    const release = () =>
      bluegreen(['release', syncPlan, '--version', '2.0.0', '--live-version', '1.0.0', '--yes'], env, {
        timeoutMs: 120_000,
      })

    // When 2.0.0 is released (expand adds the columns and the sync), and then writes too
    const first = await release()
    expect(first.code, first.stderr + first.stdout).toBe(0)
    expect(first.stdout).toMatch(/synced public\.profiles \(\d+ rows brought in line\)/)
    // And status lists the sync with its owner release
    expect(await activeSyncs(env)).toEqual([
      expect.objectContaining({
        table: 'public.profiles',
        version: '2.0.0',
        trigger: expect.stringMatching(/^bluegreen_sync_shop_profiles_\d+$/) as unknown,
      }),
    ])
    writers.start('new')
    await new Promise((resolve) => setTimeout(resolve, 500))
    // Then 1.0.0 reads names the new version wrote, and 2.0.0 first/last names the old one wrote
    await writers.pause('new')
    await writers.pause('old')
    expect(await staleRows(url, writers.meanings, true)).toEqual([])
    writers.start('old')
    writers.start('new')

    // When it is rolled back while both keep writing
    const rollback = await bluegreen(['rollback', '--plan', syncPlan, '--yes'], env)
    expect(rollback.code, rollback.stderr).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 500))
    // Then the triggers stayed: nothing 1.0.0 writes during the rollback is lost to 2.0.0
    const [firstRelease] = await sql<{ seq: string }>(url, 'SELECT max(seq) AS seq FROM bluegreen.releases')
    expect((await triggers(url)).map((t) => t.tgname)).toEqual([
      `bluegreen_sync_shop_profiles_${firstRelease.seq}`,
    ])

    // When 2.0.0 is released again, then retired's standby, and contracted
    const again = await release()
    expect(again.code, again.stderr + again.stdout).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 300))
    await writers.pause('old')
    await writers.pause('new')
    expect(await staleRows(url, writers.meanings, true)).toEqual([])
    // The re-release owns the sync now
    const [reRelease] = await sql<{ seq: string }>(url, 'SELECT max(seq) AS seq FROM bluegreen.releases')
    expect(reRelease.seq).not.toBe(firstRelease.seq)
    expect((await triggers(url)).map((t) => t.tgname)).toEqual([
      `bluegreen_sync_shop_profiles_${reRelease.seq}`,
    ])
    writers.start('new')
    expect((await bluegreen(['retire', syncPlan], env)).code).toBe(0)
    const contract = await bluegreen(['contract', syncPlan], env)
    expect(contract.code, contract.stderr + contract.stdout).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await writers.pause('new')

    // Then name is gone, no row is lost or stale, the triggers are gone, and writes still work
    expect(await staleRows(url, writers.meanings, false)).toEqual([])
    expect(await triggers(url)).toEqual([])
    expect(await sql(url, "SELECT 1 FROM pg_proc WHERE proname LIKE 'bluegreen_sync_%'")).toEqual([])
    expect(await activeSyncs(env)).toEqual([])
    await writers.write('new')
    expect(await staleRows(url, writers.meanings, false)).toEqual([])
    expect(writers.writes.old).toBeGreaterThan(20)
    expect(writers.writes.new).toBeGreaterThan(20)
    // And history shows when the sync was installed and dropped
    const history = await bluegreen(['history', syncPlan, '--json'], env)
    expect(history.stdout).toContain('sync.install')
    expect(history.stdout).toContain('sync.drop')
  }, 300_000)

  it('refuses a contract whose parity check fails, with the count, and --backfill fixes it first', async () => {
    // Given 2.0.0 released with its sync, retired's standby
    stack = await startE2eStack({ profiles: 200 })
    const { cliEnv: env, databaseUrl: url } = stack
    const released = await bluegreen(
      ['release', syncPlan, '--version', '2.0.0', '--live-version', '1.0.0', '--yes'],
      env,
      { timeoutMs: 120_000 },
    )
    expect(released.code, released.stderr + released.stdout).toBe(0)
    expect((await bluegreen(['retire', syncPlan], env)).code).toBe(0)
    // And three rows that went out of line behind the trigger's back
    await withClient(url, async (client) => {
      await client.query("SET bluegreen.sync = 'off'")
      await client.query("UPDATE profiles SET first_name = 'Wrong' WHERE id IN (3, 5, 8)")
    })

    // When the contract runs, Then it refuses (exit 5) with the count and the keys, dropping nothing
    const refused = await bluegreen(['contract', syncPlan], env)
    expect(refused.code, refused.stderr).toBe(5)
    expect(refused.stderr).toContain('CONTRACT_UNSAFE')
    expect(refused.stderr).toContain('3 rows where first_name, last_name differ from forward(old)')
    expect(refused.stderr).toMatch(/keys 3, 5, 8/)
    expect(refused.stderr).toContain('--backfill')
    expect(
      await sql(
        url,
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'profiles' AND column_name = 'name'",
      ),
    ).toHaveLength(1)
    expect(await triggers(url)).toHaveLength(1)

    // When it runs with --backfill, Then it brings them in line, drops the sync, then the column
    const fixed = await bluegreen(['contract', syncPlan, '--backfill'], env)
    expect(fixed.code, fixed.stderr + fixed.stdout).toBe(0)
    expect(await triggers(url)).toEqual([])
    const rows = await sql<{ first_name: string }>(
      url,
      'SELECT first_name FROM profiles WHERE id IN (3, 5, 8)',
    )
    expect(rows.map((r) => r.first_name)).not.toContain('Wrong')
  }, 300_000)

  it('runs a later release’s backfill at the same plan position in full, and its contract waits for it', async () => {
    // Given 2.0.0 released with its backfill at phases[1] (first_name, last_name from name)
    stack = await startE2eStack({ profiles: 2000 })
    const { cliEnv: env, databaseUrl: url } = stack
    const release = (plan: string, version: string) =>
      bluegreen(['release', plan, '--version', version, '--live-version', '1.0.0', '--yes'], env, {
        timeoutMs: 120_000,
      })
    const first = await release(e2ePlan, '2.0.0')
    expect(first.code, first.stderr + first.stdout).toBe(0)

    // When 3.0.0 brings its own backfill at phases[1] (family_name from last_name)
    const later = await release(laterPlan, '3.0.0')
    expect(later.code, later.stderr + later.stdout).toBe(0)
    // Then it ran in full: every one of the 2000 rows
    expect(later.stdout).toContain('2000 rows of profiles')
    const [{ left }] = await sql<{ left: number }>(
      url,
      'SELECT count(*)::int AS left FROM profiles WHERE family_name IS DISTINCT FROM last_name',
    )
    expect(left).toBe(0)

    // When 2.0.0 (the standby, which knows no family_name) writes 7 profiles before it is retired
    await sql(
      url,
      "INSERT INTO profiles (first_name, last_name) SELECT 'P' || g, 'Late' || g FROM generate_series(1, 7) g",
    )
    expect((await bluegreen(['retire', laterPlan], env)).code).toBe(0)
    // Then 3.0.0's contract refuses to drop last_name: its backfill has work left
    const refused = await bluegreen(['contract', laterPlan], env)
    expect(refused.code, refused.stderr + refused.stdout).toBe(5)
    expect(refused.stderr).toContain(
      'backfill of profiles (family_name = last_name): 7 rows still match family_name IS NULL AND last_name IS NOT NULL',
    )
    // And with --backfill it does that work first, then contracts
    const done = await bluegreen(['contract', laterPlan, '--backfill'], env)
    expect(done.code, done.stderr + done.stdout).toBe(0)
    const late = await sql<{ family_name: string }>(
      url,
      "SELECT family_name FROM profiles WHERE first_name LIKE 'P%' ORDER BY id",
    )
    expect(late.map((r) => r.family_name)).toEqual([
      'Late1',
      'Late2',
      'Late3',
      'Late4',
      'Late5',
      'Late6',
      'Late7',
    ])
  }, 300_000)
})
