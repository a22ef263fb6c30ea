import { resolve } from 'node:path'
import * as z from 'zod'
import { allowEmpty, SyncDeclaration } from '../format/parts.js'
import {
  databaseDetails,
  databaseSettings,
  migrationDirIssues,
  migrationsToDo,
  withPhaseClient,
  type DatabaseSettings,
} from './database.js'
import { syncIssues } from '../db/sync-check.js'
import type { Client } from '../db/client.js'
import { definePhase, type PhaseRunContext } from './types.js'

const ExpandConfig = z
  .strictObject({
    dir: z.string().min(1).describe('Directory of .sql files applied in file-name order'),
    lint: z.boolean().default(true).describe('Refuse files the compatibility linter flags'),
    allowEmpty,
    sync: z
      .array(SyncDeclaration)
      .optional()
      .describe(
        'Columns kept in sync by triggers while both versions run; dropped by this release’s contract',
      ),
  })
  .describe('Apply backward-compatible migrations')
type ExpandConfig = z.output<typeof ExpandConfig>

export const expandPhase = definePhase({
  kind: 'expand',
  schema: ExpandConfig,
  touches: 'database',
  needsDatabase: true,
  rollbackOnFailure: true,
  paths: ['dir'],
  describe(c, words) {
    return {
      target: words.databaseTarget(),
      summary: `${c.lint ? 'lint, then apply' : 'apply (without linting)'} the migrations in ${words.path(c.dir)}`,
      details: [
        ...databaseDetails(words.plan),
        ...(c.sync ?? []).flatMap((sync) => syncWords(sync, words.plan.app)),
      ],
      contractWords: (c.sync ?? []).map((sync) => {
        const [table, columns] =
          'rename' in sync
            ? [sync.rename.table, sync.rename.to]
            : [sync.table, Object.keys(sync.forward).join(', ')]
        return `its contract first checks parity on ${table} (${columns} = forward(old) in every row), then drops the sync trigger before its SQL`
      }),
    }
  },
  // A pure-JS scan at load (every command loads the plan, rollback too, and must not pay for the
  // SQL parser); run parses each expression with PostgreSQL's parser before installing.
  validate: (c, at) => syncIssues(c.sync ?? [], at.path, at.offsetOfText),
  checkFiles: (c, at) => migrationDirIssues('expand', c, at),
  dryRun: (c, ctx) => migrationsToDo('expand', c, ctx, 'would apply'),
  async contractChecks(c) {
    const { tableSyncs } = await import('../db/sync.js')
    return { syncs: tableSyncs(c.sync).map(({ table, forward, backward }) => ({ table, forward, backward })) }
  },
  async run(ctx) {
    const settings = databaseSettings(ctx.plan, 'expand')
    const { applyMigrations } = await import('../db/migrations.js')
    const { lintLevelsFor } = await import('../db/lint/config.js')
    const dir = resolve(ctx.planDir, ctx.config.dir)
    const linked = await linkedFiles(dir)
    // One connection for the SQL, the orphan drop and the syncs: a connection of its own per part
    // cost a connect and a close on every expand, plans without a sync too.
    const [result, orphans, synced] = await withPhaseClient(settings, async (client) => {
      const applied = await applyMigrations(client, {
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
      })
      return [applied, await dropOrphans(ctx, client, settings), await installSyncs(ctx, client, settings)]
    })
    const summary = `applied ${result.applied.length} migration${result.applied.length === 1 ? '' : 's'}${result.skipped.length ? `, ${result.skipped.length} already applied` : ''}`
    return [summary, orphans, synced].filter(Boolean).join('; ')
  },
})

/** The trigger a declared sync installs, and the backfill that follows it. */
function syncWords(sync: SyncDeclaration, app: string): string[] {
  const { table, forward, backward } =
    'rename' in sync
      ? {
          table: sync.rename.table,
          forward: { [sync.rename.to]: sync.rename.column },
          backward: { [sync.rename.column]: sync.rename.to },
        }
      : sync
  const relation = table.split('.').at(-1) ?? table
  const assignments = (map: Record<string, string>) =>
    Object.entries(map)
      .map(([column, expression]) => `${column} = ${expression}`)
      .join(', ')
  return [
    ...('rename' in sync
      ? [`add ${table}.${sync.rename.to} (type of ${sync.rename.column}, nullable) unless the SQL did`]
      : []),
    `then install trigger bluegreen_sync_${app}_${relation}_<release seq> on ${table} (BEFORE INSERT OR UPDATE): forward ${assignments(forward)}; backward ${assignments(backward)}`,
    `then backfill ${table} through forward where the new columns differ, in batches of 1000 (resumable)`,
  ]
}

/**
 * After the SQL: installs the declared syncs' triggers and brings existing rows in line through
 * `forward` with the backfill engine (installAndFill: resumable; a rerun finds nothing to do).
 */
async function installSyncs(
  ctx: PhaseRunContext<ExpandConfig>,
  client: Client,
  settings: DatabaseSettings,
): Promise<string | undefined> {
  const { tableSyncs, installAndFill, sessionDefaults } = await import('../db/sync.js')
  const syncs = tableSyncs(ctx.config.sync, `phases[${ctx.index}].expand`)
  if (syncs.length === 0) return undefined
  await sessionDefaults(client)
  // Every expression through PostgreSQL's own parser before the first trigger goes in.
  const { checkSyncExpressions } = await import('../db/sync-expressions.js')
  await checkSyncExpressions(syncs.flatMap((s) => s.expressions))
  // Until a step puts the new version on a pool, nothing writes the new columns: their rows can
  // be filled before the trigger goes in (installAndFill).
  const fillFirst = !ctx.steps.some((step) => step.index < ctx.index && step.definition.touches === 'pool')
  const parts: string[] = []
  for (const sync of syncs) {
    const filled = await installAndFill(
      client,
      sync,
      {
        app: ctx.plan.app,
        release: ctx.release.id,
        version: ctx.release.version,
        releaseSeq: ctx.release.seq,
        lockTimeoutMs: settings.lockTimeoutMs,
        attempts: settings.attempts,
      },
      {
        fillFirst,
        lockTimeoutMs: settings.lockTimeoutMs,
        statementTimeoutMs: settings.statementTimeoutMs,
        attempts: settings.attempts,
        signal: ctx.signal,
        onProgress: (p) =>
          ctx.progress(`${sync.table}: ${p.done}/${p.total} rows in line, ${Math.round(p.rate)} rows/s`, {
            done: p.done,
            total: p.total,
            etaMs: p.etaMs,
          }),
        onInstalled: async (installed) => {
          if (!installed.created) return
          ctx.progress(`${installed.table}: sync trigger ${installed.name} installed`)
          await ctx.journal.audit({
            app: ctx.plan.app,
            action: 'sync.install',
            actor: ctx.actor,
            detail: `${installed.name} on ${installed.table} (release ${ctx.release.version})`,
          })
        },
      },
    )
    parts.push(`synced ${filled.table} (${filled.rows} rows brought in line)`)
  }
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

/**
 * The sync triggers of earlier releases that were rolled back and that this release does not
 * declare again: nobody needs them, and they would keep rewriting columns. With no sync of an
 * earlier release active (most expands), this is one query and the journal is not asked.
 */
async function dropOrphans(
  ctx: PhaseRunContext<ExpandConfig>,
  client: Client,
  settings: DatabaseSettings,
): Promise<string | undefined> {
  const { dropOrphanSyncs, describeDroppedOrphans } = await import('../db/sync-orphans.js')
  const { tableSyncs } = await import('../db/sync.js')
  const orphans = await dropOrphanSyncs(client, {
    app: ctx.plan.app,
    releaseSeq: ctx.release.seq,
    declared: tableSyncs(ctx.config.sync, `phases[${ctx.index}].expand`),
    rolledBack: async () =>
      (await ctx.journal.releases(ctx.plan.app, 50))
        .filter((r) => r.status === 'rolled_back')
        .map((r) => r.id),
    lockTimeoutMs: settings.lockTimeoutMs,
    attempts: settings.attempts,
  })
  for (const orphan of orphans) {
    await ctx.journal.audit({
      app: ctx.plan.app,
      action: 'sync.drop',
      actor: ctx.actor,
      detail: `${orphan.name} on ${orphan.table} (rolled-back release ${orphan.version})`,
    })
  }
  return describeDroppedOrphans(orphans)
}
