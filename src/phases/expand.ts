import { resolve } from 'node:path'
import { databaseSettings, withPhaseClient, type DatabaseSettings } from './database.js'
import type { Phase, PhaseRunContext } from './types.js'

export const expandPhase = {
  kind: 'expand',
  rollbackOnFailure: true,
  async run(ctx) {
    const settings = databaseSettings(ctx.plan, 'expand')
    const { applyMigrations } = await import('../db/migrations.js')
    const { lintLevelsFor } = await import('../db/lint/config.js')
    const dir = resolve(ctx.planDir, ctx.config.dir)
    const linked = await linkedFiles(dir)
    const result = await withPhaseClient(settings, (client) =>
      applyMigrations(client, {
        dir,
        phase: 'expand',
        release: ctx.release.version,
        app: ctx.plan.app,
        lockTimeoutMs: settings.lockTimeoutMs,
        statementTimeoutMs: settings.statementTimeoutMs,
        attempts: settings.attempts,
        lint: ctx.config.lint,
        lintLevels: ctx.plan.lint
          ? lintLevelsFor(ctx.plan.lint, ctx.planDir, 'the plan’s lint section')
          : undefined,
        signal: ctx.signal,
        onEvent: (event) => ctx.progress(describeMigrationEvent(event, linked)),
      }),
    )
    const summary = `applied ${result.applied.length} migration${result.applied.length === 1 ? '' : 's'}${result.skipped.length ? `, ${result.skipped.length} already applied` : ''}`
    const synced = await installSyncs(ctx, settings)
    return synced ? `${summary}; ${synced}` : summary
  },
} satisfies Phase<'expand'>

/**
 * After the SQL: installs the declared syncs' triggers, then brings existing rows in line through
 * `forward` with the backfill engine (resumable; a rerun finds nothing to do).
 */
async function installSyncs(
  ctx: PhaseRunContext<'expand'>,
  settings: DatabaseSettings,
): Promise<string | undefined> {
  const { tableSyncs, installSync, syncBackfill, SYNC_BYPASS_SETTING } = await import('../db/sync.js')
  const syncs = tableSyncs(ctx.config.sync)
  if (syncs.length === 0) return undefined
  await parseSyncExpressions(ctx)
  const { backfill } = await import('../db/backfill.js')
  const parts: string[] = []
  await withPhaseClient(settings, async (client) => {
    for (const sync of syncs) {
      const installed = await installSync(client, sync, {
        app: ctx.plan.app,
        release: ctx.release.id,
        version: ctx.release.version,
        releaseSeq: ctx.release.seq,
        lockTimeoutMs: settings.lockTimeoutMs,
        attempts: settings.attempts,
      })
      if (installed.created) {
        ctx.progress(`${installed.table}: sync trigger ${installed.name} installed`)
        await ctx.journal.audit({
          app: ctx.plan.app,
          action: 'sync.install',
          actor: ctx.actor,
          detail: `${installed.name} on ${installed.table} (release ${ctx.release.version})`,
        })
      }
      const result = await backfill(client, {
        table: sync.table,
        ...syncBackfill(sync),
        batchSize: 1000,
        lockTimeoutMs: settings.lockTimeoutMs,
        statementTimeoutMs: settings.statementTimeoutMs,
        attempts: settings.attempts,
        // The backfill writes new columns from old ones: the trigger must keep the old as they are.
        settings: { [SYNC_BYPASS_SETTING]: 'off' },
        signal: ctx.signal,
        onProgress: (p) =>
          ctx.progress(`${sync.table}: ${p.done}/${p.total} rows in line, ${Math.round(p.rate)} rows/s`, {
            done: p.done,
            total: p.total,
            etaMs: p.etaMs,
          }),
      })
      parts.push(`synced ${installed.table} (${result.rows} rows brought in line)`)
    }
  })
  return parts.join('; ')
}

/** Files that are links (a ConfigMap mount), with the real path to show beside their name. */
async function linkedFiles(dir: string): Promise<Map<string, string>> {
  const { listMigrationFiles, shownPath } = await import('../db/migration-files.js')
  const linked = new Map<string, string>()
  for (const entry of await listMigrationFiles(dir))
    if (shownPath(entry) !== entry.path) linked.set(entry.file, `${entry.file} (${entry.realPath})`)
  return linked
}

export function describeMigrationEvent(
  event: {
    type: string
    file?: string
    attempt?: number
    delayMs?: number
    reason?: string
  },
  linked = new Map<string, string>(),
): string {
  if (event.file && linked.has(event.file)) event = { ...event, file: linked.get(event.file) }
  switch (event.type) {
    case 'migration.retry':
      return `${event.file}: lock not granted (${event.reason ?? 'lock timeout'}); retry ${event.attempt} in ${event.delayMs} ms`
    case 'migration.skip':
      return `${event.file}: already applied`
    default:
      return `${event.file ?? ''}: ${event.type.replace('migration.', '')}`
  }
}

/** Each expression parsed by PostgreSQL's own parser before anything is installed. */
async function parseSyncExpressions(ctx: PhaseRunContext<'expand'>): Promise<void> {
  const { expressionProblem } = await import('../plan/sync-check.js')
  const { BluegreenError } = await import('../errors.js')
  for (const [position, sync] of (ctx.config.sync ?? []).entries()) {
    if ('rename' in sync) continue
    for (const side of ['forward', 'backward'] as const) {
      for (const [column, expression] of Object.entries(sync[side])) {
        const problem = await expressionProblem(expression)
        if (!problem) continue
        throw new BluegreenError({
          code: 'PLAN_INVALID',
          message: `phases[${ctx.index}].expand.sync[${position}].${side}.${column}: ${problem.message} (at character ${problem.index + 1} of ${JSON.stringify(expression)})`,
          hint: 'give one SQL expression over the row’s columns; `bluegreen plan validate` checks the plan',
        })
      }
    }
  }
}
