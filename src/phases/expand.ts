import { resolve } from 'node:path'
import { databaseSettings, withPhaseClient } from './database.js'
import type { Phase } from './types.js'

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
    return `applied ${result.applied.length} migration${result.applied.length === 1 ? '' : 's'}${result.skipped.length ? `, ${result.skipped.length} already applied` : ''}`
  },
} satisfies Phase<'expand'>

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
