/** What the database phases share: a connection of their own and the plan's timeouts. */
import { withClient, type Client } from '../db/client.js'
import { BluegreenError } from '../errors.js'
import { parseDuration } from '../plan/duration.js'
import type { Plan } from '../plan/schema.js'

export interface DatabaseSettings {
  url: string
  lockTimeoutMs: number
  statementTimeoutMs: number
  attempts: number
}

export function databaseSettings(plan: Plan, phase: string): DatabaseSettings {
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
  return withClient(settings.url, fn)
}
