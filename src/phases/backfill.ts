import * as z from 'zod'
import { formatDuration, parseDuration } from '../format/duration.js'
import { Duration } from '../format/parts.js'
import { databaseSettings, withPhaseClient } from './database.js'
import { definePhase } from './types.js'

const BackfillConfig = z
  .strictObject({
    table: z.string().min(1),
    set: z.string().min(1).describe('SQL assignment list, e.g. "first_name = name"'),
    where: z.string().min(1).describe('Selects the rows still to do, so a restart resumes'),
    key: z.array(z.string()).min(1).optional().describe('Key columns (default: the primary key)'),
    batchSize: z.int().min(1).default(1000),
    pause: Duration.default('0ms').describe('Pause between batches'),
    rowsPerSecond: z.number().positive().optional().describe('Cap on the update rate'),
  })
  .describe('Copy or compute data into new columns in small batches')

export const backfillPhase = definePhase({
  kind: 'backfill',
  schema: BackfillConfig,
  touches: 'database',
  needsDatabase: true,
  rollbackOnFailure: true,
  describe(c, words) {
    const pace = [
      c.pause !== '0ms' && parseDuration(c.pause) > 0 ? `${c.pause} pause between batches` : undefined,
      c.rowsPerSecond ? `at most ${c.rowsPerSecond} rows/s` : undefined,
    ].filter((line): line is string => line !== undefined)
    return {
      target: words.databaseTarget(),
      summary: `UPDATE ${c.table} SET ${c.set} WHERE ${c.where}, ${c.batchSize} rows per batch`,
      details: [
        ...(c.key ? [`batches keyed by ${c.key.join(', ')}`] : []),
        ...pace,
        'resumable: rows already done no longer match the WHERE',
      ],
      contractWords: [`its contract first checks that no row of ${c.table} still matches ${c.where}`],
    }
  },
  async contractChecks({ table, set, where, key }) {
    return { backfills: [{ table, set, where, ...(key ? { key } : {}) }] }
  },
  async dryRun({ table, where }, { client }) {
    if (!client) return undefined
    const estimate = async (condition?: string) => {
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
        `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${table}${condition ? ` WHERE ${condition}` : ''}`,
      )
      return rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows']
    }
    // Its WHERE often names columns the expand has yet to add: then the table's size bounds it.
    const matching = await estimate(where).catch(() => undefined)
    const rows = matching ?? (await estimate())
    if (rows === undefined) return undefined
    return `${matching === undefined ? `up to about ${rows} rows (the whole table: its WHERE names columns not there yet)` : `about ${rows} rows to do`} (estimate)`
  },
  async run(ctx) {
    const { config } = ctx
    const settings = databaseSettings(ctx.plan, 'backfill')
    const { backfill } = await import('../db/backfill.js')
    const result = await withPhaseClient(settings, (client) =>
      backfill(client, {
        table: config.table,
        set: config.set,
        where: config.where,
        key: config.key,
        batchSize: config.batchSize,
        pauseMs: parseDuration(config.pause),
        rowsPerSecond: config.rowsPerSecond,
        lockTimeoutMs: settings.lockTimeoutMs,
        signal: ctx.signal,
        onProgress: (p) =>
          ctx.progress(`${p.done}/${p.total} rows, ${Math.round(p.rate)} rows/s`, {
            done: p.done,
            total: p.total,
            etaMs: p.etaMs,
          }),
      }),
    )
    return `${result.rows} rows of ${config.table} in ${result.batches} batches (longest batch ${formatDuration(result.maxBatchMs)})`
  },
})
