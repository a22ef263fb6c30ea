/**
 * Resources in callbacks (after graphile-migrate): a client or a transaction cannot leak,
 * because the code that opens it also closes it. `pg` is imported lazily so that commands
 * that never touch the database start fast.
 */
import type pg from 'pg'
import { BluegreenError } from '../errors.js'
import { redact } from '../redact.js'

export type Client = pg.Client

/** Connects, runs `fn`, and always closes the connection. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const { default: pgModule } = await import('pg')
  const client = new pgModule.Client({ connectionString: url, application_name: 'bluegreen' })
  // An idle connection that the server drops must not crash the process.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    throw new BluegreenError({
      code: 'DATABASE_UNREACHABLE',
      message: `cannot connect to PostgreSQL at ${redact(url)}: ${(error as Error).message}`,
      hint: 'check that the database is up and that database.url (or DATABASE_URL) is right',
      cause: error,
    })
  }
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/** Runs `fn` in a transaction: COMMIT when it returns, ROLLBACK when it throws. */
export async function withTransaction<T>(client: Client, fn: (client: Client) => Promise<T>): Promise<T> {
  await client.query('BEGIN')
  try {
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}

/** Quotes an identifier for SQL (for table and column names taken from a plan). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/** Quotes a possibly schema-qualified name: `public.profiles` → `"public"."profiles"`. */
export function quoteQualified(name: string): string {
  return name.split('.').map(quoteIdent).join('.')
}
