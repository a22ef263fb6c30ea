import { formatDuration, parseDuration } from '../plan/duration.js'
import { databaseSettings, withPhaseClient } from './database.js'
import type { Phase } from './types.js'

export const backfillPhase = {
  kind: 'backfill',
  rollbackOnFailure: true,
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
} satisfies Phase<'backfill'>
