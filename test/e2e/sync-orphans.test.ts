/**
 * Issue 14, end to end on the built CLI: the sync trigger of a release that was rolled back, when
 * the next release does not declare that sync again. Nothing else would ever drop it (a rolled-back
 * release never contracts), so the next release's expand must: otherwise it keeps rewriting columns
 * nobody reads, and once the next contract drops those columns every write to the table fails.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import type { Client } from '../../src/db/client.js'
import { bluegreen, repoRoot, sql, startE2eStack, type E2eStack } from '../support/e2e.js'

const syncPlan = join(repoRoot, 'test/fixtures/sync/plan.yaml')

let stack: E2eStack | undefined
let writers: Writers | undefined
let planDir: string | undefined
afterEach(async () => {
  await writers?.stop()
  writers = undefined
  await stack?.close()
  stack = undefined
  if (planDir) rmSync(planDir, { recursive: true, force: true })
  planDir = undefined
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
class Writers {
  readonly errors: string[] = []
  writes = { old: 0, new: 0 }
  private loops = new Map<'old' | 'new', Promise<void>>()
  private counter = 0

  constructor(private readonly clients: { old: Client; new: Client }) {}

  start(version: 'old' | 'new'): void {
    if (!this.loops.has(version)) this.loops.set(version, this.loop(version))
  }

  async stop(): Promise<void> {
    const loops = [...this.loops.values()]
    this.loops.clear()
    await Promise.all(loops)
    await Promise.all([this.clients.old.end(), this.clients.new.end()])
  }

  private async loop(version: 'old' | 'new'): Promise<void> {
    await Promise.resolve()
    while (this.loops.has(version)) {
      await this.write(version)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

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

const triggers = (url: string) =>
  sql<{ tgname: string }>(
    url,
    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'profiles'::regclass AND NOT tgisinternal",
  )

const stepLine = (stdout: string, kind: string) =>
  stdout.split('\n').find((line) => line.includes(kind) && line.includes('dropped the sync')) ?? ''

describe('the sync of a rolled-back release, end to end', () => {
  it('is dropped by the next release’s expand when that release does not declare it, and writes go on', async () => {
    // Given 2.0.0 released with its sync (name ↔ first_name + last_name), and 1.0.0 writing names
    stack = await startE2eStack({ profiles: 200 })
    const { cliEnv: env, databaseUrl: url } = stack
    const connect = async () => {
      const { default: pg } = await import('pg')
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }
    writers = new Writers({ old: await connect(), new: await connect() })
    writers.start('old')
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
    const laterPlan = laterPlanWithoutSync()
    planDir = dirname(laterPlan)
    const later = await bluegreen(['release', laterPlan, '--version', '2.1.0', '--yes'], env, {
      timeoutMs: 120_000,
    })
    expect(later.code, later.stderr + later.stdout).toBe(0)
    writers.start('new')

    // Then its expand step says it dropped 2.0.0's sync, by name
    expect(stepLine(later.stdout, 'expand')).toContain(
      `dropped the sync of rolled-back 2.0.0 on public.profiles (${trigger})`,
    )
    // And the trigger and its function are gone, and status lists no active sync
    expect(await triggers(url)).toEqual([])
    expect(await sql(url, 'SELECT 1 FROM pg_proc WHERE proname = $1', [trigger])).toEqual([])
    const status = await bluegreen(['status', laterPlan, '--json'], env)
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout.trim().split('\n').at(-1)!)).toMatchObject({ activeSyncs: [] })
    // And 1.0.0's writes of `name` are no longer rewritten into the columns 2.1.0 gives up
    await sql(url, "UPDATE profiles SET name = 'Not Synced' WHERE id = 150")
    expect(await sql(url, 'SELECT first_name FROM profiles WHERE id = 150')).toEqual([
      { first_name: 'Still' },
    ])
    // And the journal's audit names what was dropped, and why
    const history = await bluegreen(['history', laterPlan, '--json'], env)
    expect(history.code, history.stderr).toBe(0)
    const { events } = JSON.parse(history.stdout.trim().split('\n').at(-1)!) as {
      events: { action: string; detail: string }[]
    }
    expect(events.filter((e) => e.action === 'sync.drop').map((e) => e.detail)).toEqual([
      `${trigger} on public.profiles (rolled-back release 2.0.0)`,
    ])

    // When 1.0.0 is retired and 2.1.0's contract drops first_name and last_name, both still writing
    expect((await bluegreen(['retire', laterPlan], env)).code).toBe(0)
    const contract = await bluegreen(['contract', laterPlan], env)
    expect(contract.code, contract.stderr + contract.stdout).toBe(0)
    const running = writers
    const before = { ...running.writes }
    await new Promise((resolve) => setTimeout(resolve, 500))
    writers = undefined
    await running.stop()

    // Then the columns are gone, and every write by either version went through, after it too
    expect(
      await sql(
        url,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'profiles' AND column_name IN ('first_name', 'last_name')",
      ),
    ).toEqual([])
    const { errors, writes } = running
    expect(errors).toEqual([])
    expect(writes.old - before.old).toBeGreaterThan(5)
    expect(writes.new - before.new).toBeGreaterThan(5)
  }, 300_000)
})
