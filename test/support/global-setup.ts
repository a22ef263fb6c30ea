/**
 * Starts one real PostgreSQL for the whole test run and stops it (by PID, via pg_ctl) at the end.
 * Without server binaries: under CI=true the run fails; elsewhere the database tests skip.
 */
import { havePostgres, startPostgres, type PostgresServer } from './postgres.js'

let server: PostgresServer | undefined

export async function setup(): Promise<void> {
  if (process.env.BLUEGREEN_TEST_PG_URL) return
  if (!havePostgres()) {
    if (process.env.CI === 'true') throw new Error('PostgreSQL server binaries are missing; CI requires them')
    console.warn('skipping database tests: PostgreSQL server binaries are not installed')
    return
  }
  server = await startPostgres()
  process.env.BLUEGREEN_TEST_PG_URL = server.url
  // An interrupted run (Ctrl-C, a timeout) never reaches teardown: stop the server here too.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      void teardown().finally(() => process.exit(130))
    })
  }
}

export async function teardown(): Promise<void> {
  await server?.stop()
}
