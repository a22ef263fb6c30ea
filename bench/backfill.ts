/**
 * What do batches cost? A backfill of N rows (default 1,000,000) against one single UPDATE of
 * the same rows, on a PostgreSQL of its own, interleaved (single, batch 1000, batch 10000, …).
 * Each run gets a fresh copy of the same table (copied, vacuumed, checkpointed, untimed), so no
 * run inherits another's dead rows.
 *
 * It prints the throughput of each batch size as a ratio to the single UPDATE, and the longest
 * time any one batch held its row locks: what the application waits for at worst, against the
 * single UPDATE that holds every row for its whole run.
 *
 *   npx tsx bench/backfill.ts [--rows 1000000] [--runs 3]
 */
import { backfill } from '../src/db/backfill.js'
import { withClient, type Client } from '../src/db/client.js'
import { startPostgres } from '../test/support/postgres.js'
import { formatTable, stats } from './lib/measure.js'

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? fallback : Number(process.argv[at + 1])
}

const rows = flag('rows', 1_000_000)
const runs = flag('runs', 3)
const batchSizes = [1000, 10_000]
const set = "first_name = split_part(name, ' ', 1)"
const where = 'first_name IS NULL'

interface Case {
  name: string
  /** Runs once on table `t`; returns the longest row-lock hold in ms. */
  run: (client: Client) => Promise<number>
}

const cases: Case[] = [
  {
    name: 'single UPDATE',
    run: async (client) => {
      const started = performance.now()
      await client.query(`UPDATE t SET ${set} WHERE ${where}`)
      return performance.now() - started
    },
  },
  ...batchSizes.map((batchSize): Case => ({
    name: `backfill batch ${batchSize}`,
    run: async (client) => {
      const result = await backfill(client, {
        table: 't',
        set,
        where,
        batchSize,
        lockTimeoutMs: 1000,
        name: `bench-${batchSize}-${Date.now()}`,
      })
      if (result.rows !== rows) throw new Error(`backfill updated ${result.rows} rows, not ${rows}`)
      return result.maxBatchMs
    },
  })),
]

const server = await startPostgres()
process.once('SIGINT', () => {
  void server.stop().then(() => process.exit(130))
})
try {
  await withClient(server.url, async (client) => {
    const { rows: version } = await client.query<{ v: string }>(
      "SELECT current_setting('server_version') AS v",
    )
    console.log(`seeding ${rows.toLocaleString('en')} rows…`)
    await client.query('CREATE TABLE seed (id bigint PRIMARY KEY, name text NOT NULL, first_name text)')
    await client.query(
      "INSERT INTO seed (id, name) SELECT g, 'first' || g || ' last' || g FROM generate_series(1, $1::bigint) g",
      [rows],
    )

    const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]))
    const lockHolds = new Map<string, number[]>(cases.map((c) => [c.name, []]))
    for (let round = 0; round < runs; round++) {
      // Rotate the order so no case always follows the same neighbour.
      for (const c of cases.map((_, i) => cases[(i + round) % cases.length])) {
        await freshTable(client)
        const started = performance.now()
        const held = await c.run(client)
        samples.get(c.name)!.push(performance.now() - started)
        lockHolds.get(c.name)!.push(held)
        process.stdout.write('.')
      }
    }
    process.stdout.write('\n\n')

    const results = cases.map((c) => stats(c.name, samples.get(c.name)!))
    console.log(
      `backfill of ${rows.toLocaleString('en')} rows, ${runs} interleaved runs each ` +
        `(PostgreSQL ${version[0].v}, node ${process.version}, ${process.platform}/${process.arch})\n`,
    )
    console.log(formatTable(results, 'single UPDATE'))
    const single = results[0].median
    console.log(
      '\nthroughput as a ratio to one single UPDATE of the same rows (higher is better, 1.00 = as fast):',
    )
    for (const r of results.slice(1)) {
      const rate = Math.round((rows * 1000) / r.median).toLocaleString('en')
      console.log(`  ${r.name.padEnd(22)} ${(single / r.median).toFixed(2)}×  (${rate} rows/s)`)
    }
    console.log('\nlongest time one transaction held its row locks (worst run):')
    for (const c of cases) {
      const worst = Math.max(...lockHolds.get(c.name)!)
      const what = c.name === 'single UPDATE' ? 'every row, for the whole UPDATE' : 'one batch'
      console.log(`  ${c.name.padEnd(22)} ${worst.toFixed(0).padStart(6)} ms  (${what})`)
    }
  })
} finally {
  await server.stop()
}

/** A fresh copy of the seed as table `t`, vacuumed and checkpointed so the run starts clean. */
async function freshTable(client: Client): Promise<void> {
  await client.query('DROP TABLE IF EXISTS t')
  await client.query('CREATE TABLE t (LIKE seed INCLUDING ALL)')
  await client.query('INSERT INTO t SELECT * FROM seed')
  await client.query('VACUUM ANALYZE t')
  await client.query('CHECKPOINT')
}
