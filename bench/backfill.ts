/**
 * What do batches cost, and what do they spare the application? A backfill of N rows (default
 * 1,000,000) against one single UPDATE of the same rows, on PostgreSQL, interleaved (single,
 * batch 1000, batch 10000, …). Each run gets a fresh copy of the same table (copied, vacuumed,
 * checkpointed, untimed), so no run inherits another's dead rows.
 *
 * While each one runs, a separate client plays the application: single-row queries by id at a fixed
 * rate, alternating a SELECT and an UPDATE of a random row, each timed from when it was due. Their p99 latency is compared with the
 * same queries on the same table with nothing else running ("no backfill", also interleaved).
 *
 * It prints the throughput of each batch size as a ratio to the single UPDATE, the longest time any
 * one batch held its row locks (what the application waits for at worst, against the single UPDATE
 * that holds every row for its whole run), and the application's p99.
 *
 *   npx tsx bench/backfill.ts [--rows 1000000] [--runs 3]
 */
import { backfill } from '../src/db/backfill.js'
import { withClient, type Client } from '../src/db/client.js'
import { createDatabase } from '../src/local/postgres.js'
import { startPostgres } from '../test/support/postgres.js'
import { isMain, numberFlag, sleep, withCleanup } from './lib/main.js'
import { formatTable, stats } from './lib/measure.js'
import { codeBlock, fmtMs, markdownTable, type Section } from './lib/report.js'

export interface BackfillBenchOptions {
  /** A PostgreSQL server; the benchmark makes a database of its own in it. */
  serverUrl: string
  rows: number
  runs: number
}

const batchSizes = [1000, 10_000]
const set = "first_name = split_part(name, ' ', 1)"
const where = 'first_name IS NULL'
/** How long the application's queries run alone in the "no backfill" case. */
const aloneMs = 1500
/** The application sends one query every this many ms (200 a second). */
const appIntervalMs = 5

interface Case {
  name: string
  /** Runs once on table `t`; returns the longest row-lock hold in ms. */
  run: (client: Client) => Promise<number>
}

export async function backfillBench({ serverUrl, rows, runs }: BackfillBenchOptions): Promise<Section> {
  const url = await createDatabase(serverUrl, `bench_backfill_${process.pid}_${Date.now().toString(36)}`)
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
  const alone = 'no backfill'

  return withClient(url, async (client) => {
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
    // Per case, one list of latencies per run.
    const appLatencies = new Map<string, number[][]>([...cases.map((c) => c.name), alone].map((n) => [n, []]))
    const order = [...cases.map((c) => c.name), alone]
    for (let round = 0; round < runs; round++) {
      // Rotate the order so no case always follows the same neighbour.
      for (const name of order.map((_, i) => order[(i + round) % order.length])) {
        await freshTable(client)
        const c = cases.find((x) => x.name === name)
        let stop!: () => void
        const stopped = new Promise<void>((resolve) => (stop = resolve))
        const app = applicationQueries(url, rows, stopped)
        await app.ready
        if (c) {
          const started = performance.now()
          const held = await c.run(client).finally(stop)
          samples.get(name)!.push(performance.now() - started)
          lockHolds.get(name)!.push(held)
        } else {
          await sleep(aloneMs)
          stop()
        }
        appLatencies.get(name)!.push(await app.latencies)
        process.stdout.write('.')
      }
    }
    process.stdout.write('\n\n')
    await client.query('DROP TABLE IF EXISTS t, seed')
    return report({ rows, runs, version: version[0].v, cases, samples, lockHolds, appLatencies, alone })
  })
}

/**
 * The application: one connection of its own, single-row queries by primary key (a SELECT, then an
 * UPDATE of another random row, …) due at a fixed rate until `stop` settles; every query due
 * before then is sent, however late. Each latency is
 * counted from when the query was due, not from when it could be sent: a query stuck behind a row
 * lock also delays the ones due after it, as it would for a real application's requests, instead
 * of hiding them (no coordinated omission). Resolves with the latencies in ms.
 */
function applicationQueries(
  url: string,
  rows: number,
  stop: Promise<void>,
): { ready: Promise<void>; latencies: Promise<number[]> } {
  let ready!: () => void
  const readyPromise = new Promise<void>((resolve) => (ready = resolve))
  const latencies = withClient(url, async (client) => {
    let stoppedAt = Infinity
    void stop.then(() => (stoppedAt = performance.now()))
    const out: number[] = []
    ready()
    const start = performance.now()
    // Every query due before the stop is sent, also those still waiting behind a lock then.
    for (let i = 0; ; i++) {
      const due = start + i * appIntervalMs
      if (due > stoppedAt) break
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      if (due > stoppedAt) break
      const id = 1 + Math.floor(Math.random() * rows)
      if (i % 2 === 0) await client.query('SELECT id, name, first_name FROM t WHERE id = $1', [id])
      else await client.query('UPDATE t SET name = name WHERE id = $1', [id])
      out.push(performance.now() - due)
    }
    return out
  })
  // A failure to connect must not leave `ready` pending.
  void latencies.catch(() => ready())
  return { ready: readyPromise, latencies }
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]
}

function report(r: {
  rows: number
  runs: number
  version: string
  cases: Case[]
  samples: Map<string, number[]>
  lockHolds: Map<string, number[]>
  appLatencies: Map<string, number[][]>
  alone: string
}): Section {
  const results = r.cases.map((c) => stats(c.name, r.samples.get(c.name)!))
  const timing = formatTable(results, 'single UPDATE')
  const single = results[0].median
  // Per-run figures, then their median: one run disturbed by the shared machine moves it less.
  const medianOf = (values: number[]) => stats('', values).median
  const appP99 = (name: string) => medianOf(r.appLatencies.get(name)!.map(p99))
  const aloneP99 = appP99(r.alone)
  const rowsOf = (name: string) => {
    const result = results.find((x) => x.name === name)
    const app = r.appLatencies.get(name)!.flat()
    const holds = r.lockHolds.get(name)
    return [
      name,
      result ? fmtMs(result.median) : '—',
      result ? Math.round((r.rows * 1000) / result.median).toLocaleString('en') : '—',
      result ? `${(single / result.median).toFixed(2)}×` : '—',
      holds ? `${medianOf(holds).toFixed(0)} ms (worst ${Math.max(...holds).toFixed(0)} ms)` : '—',
      app.length.toLocaleString('en'),
      `${appP99(name).toFixed(1)} ms`,
      name === r.alone ? '1.00× (baseline)' : `${(appP99(name) / aloneP99).toFixed(1)}×`,
      `${Math.max(...app).toFixed(1)} ms`,
    ]
  }
  const table = markdownTable([
    [
      'case',
      'median time',
      'rows/s',
      'throughput vs single UPDATE',
      'longest row-lock hold, median of runs',
      'app queries',
      'app p99 (median of runs)',
      'app p99 vs no backfill',
      'app max',
    ],
    ...[...r.cases.map((c) => c.name), r.alone].map(rowsOf),
  ])
  console.log(
    `backfill of ${r.rows.toLocaleString('en')} rows, ${r.runs} interleaved runs each (PostgreSQL ${r.version})\n\n${timing}\n`,
  )
  console.log(table)
  const batch = r.cases
    .slice(1)
    .map((c) => rowsOf(c.name))
    .map(
      ([name, , , throughput, hold, , appP99, appRatio]) =>
        `${name.replace('backfill ', '')}: ${throughput} the single UPDATE's throughput, longest lock hold ${hold}, app p99 ${appP99} (${appRatio})`,
    )
  const singleRow = rowsOf('single UPDATE')
  return {
    title: 'Backfill',
    body: [
      `A backfill (src/db/backfill.ts) of ${r.rows.toLocaleString('en')} rows (\`SET ${set} WHERE ${where}\`) in ` +
        `batches of ${batchSizes.join(' and ')}, against one single UPDATE of the same rows, on PostgreSQL ${r.version} ` +
        `(a throwaway server: fsync off). ${r.runs} interleaved runs of each; every run starts from a fresh copy of ` +
        'the table (copied, vacuumed, checkpointed, untimed).',
      '',
      `While each runs, a separate connection plays the application: single-row queries by primary key, one due every ` +
        `${appIntervalMs} ms, alternating \`SELECT … WHERE id = $1\` and \`UPDATE t SET name = name WHERE id = $1\` on ` +
        'random rows. Each latency counts from when the query was due, so a query stuck behind a row lock delays the ' +
        'ones due after it instead of hiding them (no coordinated omission). Baseline ' +
        `for those: the same queries on the same fresh table with nothing else running (“no backfill”, ${aloneMs} ms ` +
        'per run, interleaved with the others). Throughput is measured with the application’s queries running. ' +
        'The longest row-lock hold is the longest transaction of a batch (the whole statement for the single UPDATE), ' +
        'per run; the application’s p99 is taken per run; the tables show the median of the runs.',
      '',
      codeBlock(timing),
      '',
      table,
    ].join('\n'),
    headline: [
      `backfill of ${r.rows.toLocaleString('en')} rows: single UPDATE ${singleRow[1]}, holds every row ${singleRow[4]}, ` +
        `app p99 ${singleRow[6]} (${singleRow[7]} no backfill); ${batch.join('; ')}`,
    ],
  }
}

/** A fresh copy of the seed as table `t`, vacuumed and checkpointed so the run starts clean. */
async function freshTable(client: Client): Promise<void> {
  await client.query('DROP TABLE IF EXISTS t')
  await client.query('CREATE TABLE t (LIKE seed INCLUDING ALL)')
  await client.query('INSERT INTO t SELECT * FROM seed')
  await client.query('VACUUM ANALYZE t')
  await client.query('CHECKPOINT')
}

if (isMain(import.meta.url)) {
  await withCleanup(async (cleanup) => {
    const server = await startPostgres()
    cleanup.add(`PostgreSQL (pid ${server.pid})`, () => server.stop())
    const section = await backfillBench({
      serverUrl: server.url,
      rows: numberFlag('rows', 1_000_000),
      runs: numberFlag('runs', 3),
    })
    console.log(`\n${section.headline.join('\n')}`)
  })
}
