/**
 * A real PostgreSQL for the test run, from src/local/postgres.ts (the same code the demo uses).
 * One server is started by the global setup and shared; each test file creates its own database.
 */
import {
  createDatabase,
  startSystemPostgres,
  systemPostgresBin,
  type LocalPostgres,
} from '../../src/local/postgres.js'

export type PostgresServer = LocalPostgres

export function havePostgres(): boolean {
  return systemPostgresBin() !== undefined
}

export async function startPostgres(): Promise<PostgresServer> {
  return startSystemPostgres()
}

/** The shared server's URL, from the global setup. */
export function sharedPostgresUrl(): string {
  const url = process.env.BLUEGREEN_TEST_PG_URL
  if (!url) throw new Error('no test PostgreSQL: the global setup did not start one (is initdb installed?)')
  return url
}

let counter = 0
/** A fresh, empty database in the shared server, for one test file or test. */
export async function createTestDatabase(prefix = 'test'): Promise<string> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
  return createDatabase(sharedPostgresUrl(), name)
}
