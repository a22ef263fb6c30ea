/**
 * What does a declared sync cost? Two measurements, each side by side with its baseline:
 *
 * 1. Single-row writes with and without the sync trigger (name → first_name + last_name): the old
 *    version's INSERT of a name and UPDATE of a name, each its own statement and transaction,
 *    as the application sends them (goal ≤ 1.3× per write). Also the same writes in a server-side
 *    loop, with no round trip to hide the trigger's cost.
 * 2. The sync backfill as the expand phase runs it (installAndFill: keyset batches through
 *    `forward`) against one plain UPDATE of the same rows (goal ≥ 0.7× its throughput), with the
 *    longest time one batch held its row locks; on a first release (no trigger on the table yet)
 *    and on a re-release (its trigger already in).
 *
 *   npx tsx bench/sync.ts [--rows 200000] [--runs 3]
 */
import { withClient, type Client } from '../src/db/client.js'
import {
  installAndFill,
  installSync,
  syncBackfill,
  tableSyncs,
  SYNC_BACKFILL_BATCHES,
} from '../src/db/sync.js'
import { createDatabase } from '../src/local/postgres.js'
import { startPostgres } from '../test/support/postgres.js'
import { isMain, numberFlag, withCleanup } from './lib/main.js'
import { formatTable, measure, stats } from './lib/measure.js'
import { codeBlock, fmtMs, markdownTable, times, type Section } from './lib/report.js'

export interface SyncBenchOptions {
  serverUrl: string
  rows: number
  runs: number
}

const [nameSplit] = tableSyncs([
  {
    table: 'synced',
    forward: { first_name: "split_part(name, ' ', 1)", last_name: "nullif(split_part(name, ' ', 2), '')" },
    backward: { name: "concat_ws(' ', first_name, last_name)" },
  },
])
const forwardSet = syncBackfill(nameSplit).set
const writesPerSample = 200
const writeSamplesPerRun = 15
const us = (ms: number) => `${Math.round(ms * 1000)} µs`

export async function syncBench({ serverUrl, rows, runs }: SyncBenchOptions): Promise<Section> {
  const url = await createDatabase(serverUrl, `bench_sync_${process.pid}_${Date.now().toString(36)}`)
  return withClient(url, async (client) => {
    const writes = await writeCost(client, runs)
    const fill = await backfillCost(client, rows, runs)
    return report(writes, fill, rows, runs)
  })
}

/**
 * Fresh tables of `rows` rows: `plain` (no trigger), `synced` (the sync installed, as the
 * single-row writes need) and `unsynced` (no trigger yet, as the expand phase finds a table).
 */
async function freshTables(client: Client, rows: number): Promise<void> {
  for (const table of ['plain', 'synced', 'unsynced']) {
    await client.query(`DROP TABLE IF EXISTS ${table}`)
    await client.query(
      `CREATE TABLE ${table} (id bigserial PRIMARY KEY, name text, first_name text, last_name text)`,
    )
    await client.query(
      `INSERT INTO ${table} (name) SELECT 'first' || g || ' last' || g FROM generate_series(1, $1) g`,
      [rows],
    )
    await client.query(`VACUUM ANALYZE ${table}`)
  }
  await client.query('DELETE FROM bluegreen.syncs').catch(() => {})
  await client.query('DELETE FROM bluegreen.backfills').catch(() => {})
  await installSync(client, nameSplit, release(1))
  await client.query('CHECKPOINT')
}

const release = (seq: number) => ({
  app: 'bench',
  release: `bench-${seq}`,
  version: '2.0.0',
  releaseSeq: seq,
  lockTimeoutMs: 5000,
})

async function writeCost(client: Client, runs: number) {
  await freshTables(client, 10_000)
  let next = 0
  const insert = (table: string) => async () => {
    for (let i = 0; i < writesPerSample; i++)
      await client.query(`INSERT INTO ${table} (name) VALUES ('Ada Lovelace')`)
  }
  const update = (table: string) => async () => {
    for (let i = 0; i < writesPerSample; i++) {
      next = (next % 10_000) + 1
      await client.query(`UPDATE ${table} SET name = $1 WHERE id = $2`, [`Ada Lovelace${next}`, next])
    }
  }
  const inServer = (table: string) => async () => {
    await client.query(
      `DO $$ BEGIN FOR i IN 1..2000 LOOP
         INSERT INTO ${table} (name) VALUES ('Grace Hopper');
         UPDATE ${table} SET name = 'Grace Hopper' || i WHERE id = 1 + i % 10000;
       END LOOP; END $$`,
    )
  }
  const perWrite = (s: ReturnType<typeof stats>) => ({ ...s, median: s.median / writesPerSample })
  const client_ = await measure(
    [
      { name: 'INSERT, no trigger', run: insert('plain') },
      { name: 'INSERT, sync trigger', run: insert('synced') },
      { name: 'UPDATE, no trigger', run: update('plain') },
      { name: 'UPDATE, sync trigger', run: update('synced') },
    ],
    // Single writes are a few hundred µs each: many samples, so that a busy moment of the machine
    // moves the median of neither side.
    { runs: runs * writeSamplesPerRun, warmup: 3 },
  )
  const server = await measure(
    [
      { name: 'in-server loop, no trigger', run: inServer('plain') },
      { name: 'in-server loop, sync trigger', run: inServer('synced') },
    ],
    { runs: runs * 3, warmup: 1 },
  )
  return { client: client_.map(perWrite), raw: client_, server }
}

/**
 * CPU time (ms) the server process behind `client` has used, from /proc (the bench's server is
 * local): what the work costs the database, whatever else the machine is running, where wall
 * time on a busy machine also counts every wait for a core between round trips.
 */
async function backendCpu(client: Client): Promise<() => number | undefined> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  const { readFileSync } = await import('node:fs')
  const ticksPerSecond = 100
  return () => {
    try {
      const fields = readFileSync(`/proc/${rows[0].pid}/stat`, 'utf8').split(') ')[1].split(' ')
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
    } catch {
      return undefined
    }
  }
}

async function backfillCost(client: Client, rows: number, runs: number) {
  const names = {
    single: 'one plain UPDATE',
    first: 'sync backfill, rows first',
    withTrigger: 'sync backfill, trigger in',
  }
  const time = new Map<string, number[]>()
  const cpuTime = new Map<string, number[]>()
  const hold = new Map<string, number[]>()
  const push = (map: Map<string, number[]>, key: string, value: number) =>
    map.set(key, [...(map.get(key) ?? []), value])
  const cpu = await backendCpu(client)
  const timed = async (name: string, work: () => Promise<number | undefined>) => {
    const at = performance.now()
    const cpuAt = cpu()
    const held = await work()
    push(time, name, performance.now() - at)
    const cpuNow = cpu()
    if (cpuAt !== undefined && cpuNow !== undefined) push(cpuTime, name, cpuNow - cpuAt)
    if (held !== undefined) push(hold, name, held)
  }
  // What the expand phase runs (installAndFill), on a table as it finds it.
  const fill = (table: string, seq: number) => async () => {
    const filled = await installAndFill(client, { ...nameSplit, table }, release(seq), {
      fillFirst: true,
      lockTimeoutMs: 5000,
    })
    if (filled.rows !== rows)
      throw new Error(`the sync backfill brought ${filled.rows} of ${rows} rows in line`)
    return filled.maxBatchMs
  }
  for (let run = 0; run < runs; run++) {
    await freshTables(client, rows)
    const cases = [
      () =>
        timed(names.single, async () => {
          await client.query(`UPDATE plain SET ${forwardSet}`)
          return undefined
        }),
      // A first release: no trigger on the table yet, so the rows are filled before it goes in.
      () => timed(names.first, fill('unsynced', 2)),
      // A re-release (its sync already on the table): the walk runs with the trigger in.
      () => timed(names.withTrigger, fill('synced', 1)),
    ]
    // Rotate which goes first, so none always gets the warmer cache.
    for (const c of cases.map((_, i) => cases[(i + run) % cases.length])) await c()
  }
  const median = (map: Map<string, number[]>, name: string) =>
    map.get(name)?.length === runs ? stats(name, map.get(name)!).median : undefined
  return Object.fromEntries(
    Object.entries(names).map(([key, name]) => [
      key,
      {
        name,
        time: stats(name, time.get(name)!).median,
        cpu: median(cpuTime, name),
        hold: median(hold, name),
      },
    ]),
  ) as Record<keyof typeof names, { name: string; time: number; cpu?: number; hold?: number }>
}

function report(
  writes: Awaited<ReturnType<typeof writeCost>>,
  fill: Awaited<ReturnType<typeof backfillCost>>,
  rows: number,
  runs: number,
): Section {
  const byName = (name: string) => writes.client.find((s) => s.name === name)!.median
  const insertRatio = byName('INSERT, sync trigger') / byName('INSERT, no trigger')
  const updateRatio = byName('UPDATE, sync trigger') / byName('UPDATE, no trigger')
  const serverRatio = writes.server[1].median / writes.server[0].median
  const throughput = fill.single.time / fill.first.time
  const cpuRatio = fill.single.cpu && fill.first.cpu ? fill.single.cpu / fill.first.cpu : undefined
  const table = markdownTable([
    ['measure', 'no trigger', 'sync trigger', 'ratio', 'goal'],
    [
      'single-row INSERT (per write)',
      us(byName('INSERT, no trigger')),
      us(byName('INSERT, sync trigger')),
      times(insertRatio, 1),
      '≤ 1.30×',
    ],
    [
      'single-row UPDATE (per write)',
      us(byName('UPDATE, no trigger')),
      us(byName('UPDATE, sync trigger')),
      times(updateRatio, 1),
      '≤ 1.30×',
    ],
    [
      'in-server loop (2000 INSERT + UPDATE)',
      fmtMs(writes.server[0].median),
      fmtMs(writes.server[1].median),
      times(serverRatio, 1),
      '—',
    ],
  ])
  const fillTable = markdownTable([
    ['', 'time', 'rows/s', 'throughput', 'server CPU', 'longest row-lock hold'],
    ...[fill.single, fill.first, fill.withTrigger].map((c) => [
      c.name,
      fmtMs(c.time),
      Math.round((rows * 1000) / c.time).toLocaleString('en'),
      times(fill.single.time / c.time, 1),
      c.cpu !== undefined ? fmtMs(c.cpu) : '—',
      c.hold !== undefined ? fmtMs(c.hold) : `${fmtMs(c.time)} (every row)`,
    ]),
  ])
  return {
    title: 'Sync triggers and the sync backfill',
    body: [
      `Single-row writes: ${writesPerSample} autocommit statements per sample, ${runs * writeSamplesPerRun} samples per case, interleaved; ` +
        'the table shows the median per write. The in-server loop runs the same writes inside one DO block, so no ' +
        `round trip hides the trigger. Backfill: ${rows.toLocaleString('en')} rows, ${runs} runs, each on fresh tables, ` +
        'order rotating; both sync backfills are what the expand phase runs (installAndFill, batches of ' +
        `~${SYNC_BACKFILL_BATCHES.targetBatchMs} ms): on a first release the table has no trigger yet, so the rows are ` +
        'filled first, then the trigger goes in and a second walk finds what was written meanwhile; on a re-release ' +
        'the trigger is in, and while a table has a BEFORE UPDATE row trigger PostgreSQL locks each row before ' +
        'updating it, whatever the trigger\u2019s WHEN says. ' +
        'Server CPU is the CPU time of the server process that ran each case (from /proc, 10 ms ticks): ' +
        'what the work costs the database, which wall time on a busy machine mixes with waits for a core.',
      '',
      codeBlock(formatTable(writes.raw, 'INSERT, no trigger')),
      '',
      table,
      '',
      fillTable,
    ].join('\n'),
    headline: [
      `sync trigger: single-row INSERT ${times(insertRatio, 1)}, UPDATE ${times(updateRatio, 1)} (goal ≤ 1.3×; in-server loop ${times(serverRatio, 1)}); ` +
        `sync backfill of ${rows.toLocaleString('en')} rows at ${throughput.toFixed(2)}× one plain UPDATE's throughput (goal ≥ 0.7×; ` +
        `${cpuRatio ? `${cpuRatio.toFixed(2)}× by server CPU` : 'server CPU not measured'}), ` +
        `longest row-lock hold ${fmtMs(fill.first.hold ?? 0)} vs ${fmtMs(fill.single.time)}; ` +
        `${times(fill.single.time / fill.withTrigger.time, 1)} on a re-release, its trigger in`,
    ],
  }
}

if (isMain(import.meta.url)) {
  await withCleanup(async (cleanup) => {
    const server = await startPostgres()
    cleanup.add(`PostgreSQL (pid ${server.pid})`, () => server.stop())
    const section = await syncBench({
      serverUrl: server.url,
      rows: numberFlag('rows', 200_000),
      runs: numberFlag('runs', 3),
    })
    console.log(`\n${section.body}\n\n${section.headline.join('\n')}`)
  })
}
