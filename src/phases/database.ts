/** What the database phases share: a connection of their own, the plan's timeouts, their directories. */
import { stat } from 'node:fs/promises'
import { idleLimits, offSessionLimits, withClient, type Client } from '../db/client.js'
import { BluegreenError, isBluegreenError } from '../errors.js'
import { parseDuration } from '../format/duration.js'
import type { RawIssue } from '../format/issues.js'
import type { PlanBase } from '../format/parts.js'
import type { DryRunContext, ValidateContext } from './types.js'

export interface DatabaseSettings {
  url: string
  lockTimeoutMs: number
  statementTimeoutMs: number
  attempts: number
}

export function databaseSettings(plan: PlanBase, phase: string): DatabaseSettings {
  const db = plan.database
  if (!db) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `the ${phase} phase needs a database, and the plan has none`,
      hint: 'add `database: { url: ${DATABASE_URL} }` to the plan, or remove the phase',
    })
  }
  return {
    url: db.url,
    lockTimeoutMs: parseDuration(db.lockTimeout),
    statementTimeoutMs: parseDuration(db.statementTimeout),
    attempts: db.retries,
  }
}

/** A connection separate from the journal's, so a failed migration cannot disturb the journal. */
export function withPhaseClient<T>(
  settings: DatabaseSettings,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  return withClient(settings.url, async (client) => {
    await offSessionLimits(client, idleLimits)
    return fn(client)
  })
}

/** The timeouts a migration step works under, in words. */
export function databaseDetails(plan: PlanBase): string[] {
  const db = plan.database
  return db
    ? [
        `lock_timeout ${db.lockTimeout} per DDL attempt, up to ${db.retries} attempts`,
        `statement_timeout ${db.statementTimeout}`,
      ]
    : []
}

/**
 * Migration directories are read during the release; a problem with one is a plan error now,
 * before anything runs: a missing directory, an entry the runner could not apply (a directory
 * named *.sql, a dangling link), or no .sql file at all unless the phase says `allowEmpty: true`
 * (a typo in `dir` that points at some other directory is thus caught).
 */
export async function migrationDirIssues(
  kind: string,
  config: { dir: string; allowEmpty?: boolean },
  at: ValidateContext,
): Promise<RawIssue[]> {
  const path = [...at.path, 'dir']
  const isDir = await stat(config.dir).then(
    (info) => info.isDirectory(),
    () => false,
  )
  if (!isDir) {
    return [
      {
        path,
        at: 'value',
        message: `directory not found: ${config.dir}`,
        hint: `relative dirs are resolved against the plan file’s directory (${at.planDir}); create it or fix the path`,
      },
    ]
  }
  const { listMigrationFiles } = await import('../db/migration-files.js')
  try {
    const files = await listMigrationFiles(config.dir)
    if (files.length === 0 && !config.allowEmpty) {
      return [
        {
          path,
          at: 'value',
          message: `no .sql file in ${config.dir}`,
          hint: `check the path (relative to ${at.planDir}); add allowEmpty: true to the ${kind} phase if the directory is empty on purpose`,
        },
      ]
    }
  } catch (error) {
    if (!isBluegreenError(error)) throw error
    return [{ path, at: 'value', message: error.message, hint: error.hint ?? '' }]
  }
  return []
}

/** For --dry-run: the files of the directory the journal has not recorded as applied. */
export async function migrationsToDo(
  kind: string,
  config: { dir: string },
  ctx: DryRunContext,
  what: string,
): Promise<string> {
  const { listMigrationFiles } = await import('../db/migration-files.js')
  const done = new Set(ctx.applied.filter((m) => m.phase === kind).map((m) => m.file))
  const files = (await listMigrationFiles(config.dir)).map((f) => f.file)
  const todo = files.filter((f) => !done.has(f))
  return todo.length === 0 ? `nothing new (${files.length} already applied)` : `${what}: ${todo.join(', ')}`
}
