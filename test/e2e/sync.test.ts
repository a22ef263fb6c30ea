/**
 * Issue 14, end to end on the built CLI: the README's column change (name → first_name +
 * last_name) declared as a sync, with both versions writing as they would, through release →
 * rollback → release again → retire → contract. Every row is checked against what its last
 * write meant. And the sync of a rolled-back release that the next release does not declare again:
 * nothing else would ever drop it (a rolled-back release never contracts), so the next release's
 * expand must, or it keeps rewriting columns nobody reads and blocks the contract that drops them.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { withClient, type Client } from '../../src/db/client.js'
import { bluegreen, e2ePlan, repoRoot, sql, startE2eStack, type E2eStack } from '../support/e2e.js'

const syncPlan = join(repoRoot, 'test/fixtures/sync/plan.yaml')
const laterPlan = join(repoRoot, 'test/fixtures/sync/later.yaml')

let stack: E2eStack | undefined
let writers: WriteLoops | undefined
let planDir: string | undefined
afterEach(async () => {
  await writers?.stop()
  writers = undefined
  await stack?.close()
  stack = undefined
  if (planDir) rmSync(planDir, { recursive: true, force: true })
  planDir = undefined
})

async function connectTo(url: string): Promise<Client> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return client
}

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

/** The two versions' write loops, one connection each; `write` says what one write of a version is. */
abstract class WriteLoops {
  private loops = new Map<'old' | 'new', Promise<void>>()
  writes = { old: 0, new: 0 }

  constructor(protected readonly clients: { old: Client; new: Client }) {}

  abstract write(version: 'old' | 'new'): Promise<void>

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
}

/**
 * Both versions writing: the old one inserts and updates `name` only, the new one `first_name`
 * and `last_name` only. Updates keep to even ids (old) and odd ids (new), so each row's last write
 * is known without racing the other writer on the same row; inserts land anywhere.
 */
class Writers extends WriteLoops {
  readonly meanings = new Map<number, Meaning>()
  private counter = 0

  constructor(clients: { old: Client; new: Client }, seeded: { id: number; name: string }[]) {
    super(clients)
    for (const row of seeded) this.meanings.set(row.id, { by: 'old', name: row.name })
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
    const writing = new Writers(
      { old: await connectTo(url), new: await connectTo(url) },
      seeded.map((r) => ({ id: Number(r.id), name: r.name })),
    )
    writers = writing
    writing.start('old')
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
    writing.start('new')
    await new Promise((resolve) => setTimeout(resolve, 500))
    // Then 1.0.0 reads names the new version wrote, and 2.0.0 first/last names the old one wrote
    await writing.pause('new')
    await writing.pause('old')
    expect(await staleRows(url, writing.meanings, true)).toEqual([])
    writing.start('old')
    writing.start('new')

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
    await writing.pause('old')
    await writing.pause('new')
    expect(await staleRows(url, writing.meanings, true)).toEqual([])
    // The re-release owns the sync now
    const [reRelease] = await sql<{ seq: string }>(url, 'SELECT max(seq) AS seq FROM bluegreen.releases')
    expect(reRelease.seq).not.toBe(firstRelease.seq)
    expect((await triggers(url)).map((t) => t.tgname)).toEqual([
      `bluegreen_sync_shop_profiles_${reRelease.seq}`,
    ])
    writing.start('new')
    expect((await bluegreen(['retire', syncPlan], env)).code).toBe(0)
    const contract = await bluegreen(['contract', syncPlan], env)
    expect(contract.code, contract.stderr + contract.stdout).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await writing.pause('new')

    // Then name is gone, no row is lost or stale, the triggers are gone, and writes still work
    expect(await staleRows(url, writing.meanings, false)).toEqual([])
    expect(await triggers(url)).toEqual([])
    expect(await sql(url, "SELECT 1 FROM pg_proc WHERE proname LIKE 'bluegreen_sync_%'")).toEqual([])
    expect(await activeSyncs(env)).toEqual([])
    await writing.write('new')
    expect(await staleRows(url, writing.meanings, false)).toEqual([])
    expect(writing.writes.old).toBeGreaterThan(20)
    expect(writing.writes.new).toBeGreaterThan(20)
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

/**
 * 2.1.0, the release after the rolled-back 2.0.0: it gives up splitting `name` (no sync), adds
 * `nickname`, and its contract drops the columns 2.0.0 added. The sync fixture's plan with another
 * expand and contract, so everything else (stack, deploy, checks) is the same.
 */
function laterPlanWithoutSync(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bluegreen-orphan-plan-'))
  const plan = parse(readFileSync(syncPlan, 'utf8')) as { phases: Record<string, Record<string, unknown>>[] }
  for (const phase of plan.phases) {
    if (phase.expand) phase.expand = { dir: 'expand' }
    if (phase.contract) phase.contract = { dir: 'contract' }
    if (phase.deploy)
      phase.deploy.run = ['node', join(repoRoot, 'plans/demo/deploy.mjs'), '{{pool}}', '{{version}}']
  }
  mkdirSync(join(dir, 'expand'))
  mkdirSync(join(dir, 'contract'))
  writeFileSync(
    join(dir, 'expand/002_profiles_nickname.sql'),
    'ALTER TABLE profiles ADD COLUMN nickname text;\n',
  )
  writeFileSync(
    join(dir, 'contract/002_drop_first_last.sql'),
    'ALTER TABLE profiles DROP COLUMN first_name, DROP COLUMN last_name;\n',
  )
  writeFileSync(join(dir, 'plan.yaml'), stringify(plan))
  return join(dir, 'plan.yaml')
}

/**
 * The two versions writing `profiles` as they would: 1.0.0 inserts and renames by `name`, 2.1.0
 * inserts with a nickname and changes nicknames. Every failed write is kept, with its error.
 */
class NicknameWriters extends WriteLoops {
  readonly errors: string[] = []
  private counter = 0

  async write(version: 'old' | 'new'): Promise<void> {
    const n = ++this.counter
    // Ids 1–100 only: the test checks row 150 by hand.
    const id = 1 + (n % 100)
    const [text, params] =
      version === 'old'
        ? n % 3 === 0
          ? ['INSERT INTO profiles (name) VALUES ($1)', [`Old${n} Writer`]]
          : ['UPDATE profiles SET name = $1 WHERE id = $2', [`Renamed${n} Old`, id]]
        : n % 3 === 0
          ? ['INSERT INTO profiles (name, nickname) VALUES ($1, $2)', [`New${n} Writer`, `nick${n}`]]
          : ['UPDATE profiles SET nickname = $1 WHERE id = $2', [`nick${n}`, id]]
    try {
      await this.clients[version].query(text, params)
      this.writes[version]++
    } catch (error) {
      this.errors.push(`${version}: ${text}: ${(error as Error).message}`)
    }
  }
}

const stepLine = (stdout: string, kind: string) =>
  stdout.split('\n').find((line) => line.includes(kind) && line.includes('dropped the sync')) ?? ''

describe('the sync of a rolled-back release, end to end', () => {
  it('is dropped by the next release’s expand when that release does not declare it, and writes go on', async () => {
    // Given 2.0.0 released with its sync (name ↔ first_name + last_name), and 1.0.0 writing names
    stack = await startE2eStack({ profiles: 200 })
    const { cliEnv: env, databaseUrl: url } = stack
    const writing = new NicknameWriters({ old: await connectTo(url), new: await connectTo(url) })
    writers = writing
    writing.start('old')
    const first = await bluegreen(
      ['release', syncPlan, '--version', '2.0.0', '--live-version', '1.0.0', '--yes'],
      env,
      { timeoutMs: 120_000 },
    )
    expect(first.code, first.stderr + first.stdout).toBe(0)
    const [{ seq }] = await sql<{ seq: string }>(url, 'SELECT max(seq) AS seq FROM bluegreen.releases')
    const trigger = `bluegreen_sync_shop_profiles_${seq}`

    // And 2.0.0 rolled back: its trigger stays (1.0.0's writes during the rollback stay in sync)
    const rollback = await bluegreen(['rollback', '--plan', syncPlan, '--yes'], env)
    expect(rollback.code, rollback.stderr).toBe(0)
    expect((await triggers(url)).map((t) => t.tgname)).toEqual([trigger])
    await sql(url, "UPDATE profiles SET name = 'Still Synced' WHERE id = 150")
    expect(await sql(url, 'SELECT first_name FROM profiles WHERE id = 150')).toEqual([
      { first_name: 'Still' },
    ])

    // When 2.1.0, which declares no sync, is released
    const planWithoutSync = laterPlanWithoutSync()
    planDir = dirname(planWithoutSync)
    const later = await bluegreen(['release', planWithoutSync, '--version', '2.1.0', '--yes'], env, {
      timeoutMs: 120_000,
    })
    expect(later.code, later.stderr + later.stdout).toBe(0)
    writing.start('new')

    // Then its expand step says it dropped 2.0.0's sync, by name
    expect(stepLine(later.stdout, 'expand')).toContain(
      `dropped the sync of rolled-back 2.0.0 on public.profiles (${trigger})`,
    )
    // And the trigger and its function are gone, and status lists no active sync
    expect(await triggers(url)).toEqual([])
    expect(await sql(url, 'SELECT 1 FROM pg_proc WHERE proname = $1', [trigger])).toEqual([])
    const status = await bluegreen(['status', planWithoutSync, '--json'], env)
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout.trim().split('\n').at(-1)!)).toMatchObject({ activeSyncs: [] })
    // And 1.0.0's writes of `name` are no longer rewritten into the columns 2.1.0 gives up
    await sql(url, "UPDATE profiles SET name = 'Not Synced' WHERE id = 150")
    expect(await sql(url, 'SELECT first_name FROM profiles WHERE id = 150')).toEqual([
      { first_name: 'Still' },
    ])
    // And the journal's audit names what was dropped, and why
    const history = await bluegreen(['history', planWithoutSync, '--json'], env)
    expect(history.code, history.stderr).toBe(0)
    const { events } = JSON.parse(history.stdout.trim().split('\n').at(-1)!) as {
      events: { action: string; detail: string }[]
    }
    expect(events.filter((e) => e.action === 'sync.drop').map((e) => e.detail)).toEqual([
      `${trigger} on public.profiles (rolled-back release 2.0.0)`,
    ])

    // When 1.0.0 is retired and 2.1.0's contract drops first_name and last_name, both still writing
    expect((await bluegreen(['retire', planWithoutSync], env)).code).toBe(0)
    const contract = await bluegreen(['contract', planWithoutSync], env)
    expect(contract.code, contract.stderr + contract.stdout).toBe(0)
    const before = { ...writing.writes }
    await new Promise((resolve) => setTimeout(resolve, 500))
    writers = undefined
    await writing.stop()

    // Then the columns are gone, and every write by either version went through, after it too
    expect(
      await sql(
        url,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'profiles' AND column_name IN ('first_name', 'last_name')",
      ),
    ).toEqual([])
    const { errors, writes } = writing
    expect(errors).toEqual([])
    expect(writes.old - before.old).toBeGreaterThan(5)
    expect(writes.new - before.new).toBeGreaterThan(5)
  }, 300_000)
})
