/**
 * Resources in callbacks (after graphile-migrate): a client or a transaction cannot leak,
 * because the code that opens it also closes it. `pg` is imported lazily so that commands
 * that never touch the database start fast.
 */
import type pg from 'pg'
import { BluegreenError, ExitCode } from '../errors.js'
import { redact } from '../redact.js'

export type Client = pg.Client

/** Connects, runs `fn`, and always closes the connection. */
export async function withClient<T>(
  url: string,
  fn: (client: Client) => Promise<T>,
  options: { timeoutMs?: number } = {},
): Promise<T> {
  const client = await connect(url, options)
  try {
    return await fn(client)
  } catch (error) {
    // A migration or a backfill reports a failed statement as its own error; when the cause was
    // the connection going away, that is not the statement's fault, and the user should resume.
    throw lostConnection(error) ?? error
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * Opens a connection; the caller must end it (withClient does). Started early, it can connect
 * while the process does other work (the release lock's connection, journal-store.ts).
 */
export async function connect(
  url: string,
  options: { timeoutMs?: number; keepAlive?: boolean } = {},
): Promise<Client> {
  const { default: pgModule } = await import('pg')
  const timeoutMs = options.timeoutMs ?? connectTimeoutMs()
  let client: Client
  try {
    client = new pgModule.Client({
      connectionString: url,
      application_name: 'bluegreen',
      // pg waits forever by default: a black-holed database would hang a rollback for minutes
      // before it could go on without the journal.
      connectionTimeoutMillis: timeoutMs,
      // The release lock's connection idles through long steps: TCP keepalive stops a NAT or a
      // firewall from dropping it silently, and makes a dead peer show up as an error.
      ...(options.keepAlive ? { keepAlive: true, keepAliveInitialDelayMillis: 10_000 } : {}),
    })
  } catch (error) {
    // The plan check refuses such URLs; this is for URLs from elsewhere (demo --postgres).
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `not a PostgreSQL connection URL: ${redact(url)} (${(error as Error).message})`,
      hint: 'write postgres://USER:PASSWORD@HOST:5432/DATABASE (port 1–65535; percent-encode @, : and / in the password)',
      cause: error,
    })
  }
  // An idle connection that the server drops must not crash the process.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    throw new BluegreenError({
      code: 'DATABASE_UNREACHABLE',
      message: `cannot connect to PostgreSQL at ${redact(url)}: ${(error as Error).message}${/timeout/i.test((error as Error).message) ? ` (no answer within ${timeoutMs / 1000} s)` : ''}`,
      hint: 'check that the database is up and that database.url (or DATABASE_URL) is right',
      cause: error,
    })
  }
  return client
}

/** How long a connection may take, from PGCONNECT_TIMEOUT (seconds, as for libpq); 10 s by default. */
export function connectTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const seconds = Number(env.PGCONNECT_TIMEOUT)
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 10_000
}

/**
 * Runs `fn` in a transaction: COMMIT when it returns, ROLLBACK when it throws. `settings` are
 * SET LOCAL for the transaction only (e.g. `{ lock_timeout: '1000ms' }`), sent with BEGIN in one
 * round trip: a backfill runs thousands of these.
 */
export async function withTransaction<T>(
  client: Client,
  fn: (client: Client) => Promise<T>,
  settings: Record<string, string> = {},
): Promise<T> {
  const sets = Object.entries(settings).map(([name, value]) => {
    if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new Error(`not a setting name: ${name}`)
    return `SET LOCAL ${name} = '${value.replace(/'/g, "''")}'`
  })
  await client.query(['BEGIN', ...sets].join('; '))
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

/** The SQLSTATE of a PostgreSQL error (`55P03` for lock_not_available), if it is one. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/** lock_timeout expired (or NOWAIT failed): the only error worth retrying as is. */
export function isLockTimeout(error: unknown): boolean {
  return sqlStateOf(error) === '55P03'
}

/**
 * Holds a session-level advisory lock named `name` while `fn` runs. Waits for it with a try-lock
 * every `pollMs`, so an abort can end the wait; the server frees the lock if the process dies.
 * Session-level, not transaction-level, because `fn` runs statements that must commit on their
 * own (CREATE INDEX CONCURRENTLY).
 */
export async function withAdvisoryLock<T>(
  client: Client,
  name: string,
  fn: () => Promise<T>,
  options: { signal?: AbortSignal; pollMs?: number; onWait?: () => void } = {},
): Promise<T> {
  let waited = false
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked',
      [name],
    )
    if (rows[0]?.locked) break
    if (!waited) options.onWait?.()
    waited = true
    await abortableSleep(options.pollMs ?? 250, options.signal)
  }
  try {
    return await fn()
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]).catch(() => {})
  }
}

/** Sleeps, or throws INTERRUPTED as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const interrupted = () =>
      new BluegreenError({
        code: 'INTERRUPTED',
        message: 'interrupted',
        hint: 'run the same command again: finished work is recorded and is not repeated',
      })
    if (signal?.aborted) {
      reject(interrupted())
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(interrupted())
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Turns `names` (session settings such as idle_session_timeout) off for this session. A release's
 * sessions wait between statements (a deploy, a smoke test, a batch's pause) and must not be cut
 * for idling by a server or role default.
 */
export async function offSessionLimits(client: Client, names: string[]): Promise<void> {
  await client.query(`SELECT set_config(name, '0', false) FROM pg_settings WHERE name = ANY($1)`, [names])
}

/** The idle limits a server or role may set that would cut a release's session while it waits. */
export const idleLimits = ['idle_session_timeout', 'idle_in_transaction_session_timeout']

/**
 * Whether an error means the connection to PostgreSQL is gone (server stopped, network cut,
 * backend terminated, cut for idling: 57P05, 25P03) rather than that a statement failed.
 */
export function isConnectionLost(error: unknown): boolean {
  const state = sqlStateOf(error)
  if (state && (state.startsWith('08') || ['57P01', '57P02', '57P03', '57P05', '25P03'].includes(state)))
    return true
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN'].includes(code)) return true
  const message = error instanceof Error ? error.message : ''
  return /Connection terminated|not queryable|Client was closed|connection error/i.test(message)
}

const resumeHint =
  'check that the database is up; once it is, `bluegreen release PLAN --resume` continues an unfinished release'

/** Turns a lost connection into an error a user can act on; other errors pass through unchanged. */
export function connectionLostError(error: unknown, what: string): unknown {
  if (!isConnectionLost(error) || isUnreachable(error)) return error
  return new BluegreenError({
    code: 'DATABASE_UNREACHABLE',
    message: `lost the connection to PostgreSQL while ${what}: ${(error as Error).message}`,
    hint: resumeHint,
    cause: error,
  })
}

function isUnreachable(error: unknown): boolean {
  return error instanceof BluegreenError && error.code === 'DATABASE_UNREACHABLE'
}

/**
 * DATABASE_UNREACHABLE for an error whose cause, at any depth, is a lost connection
 * (MIGRATION_FAILED or BACKFILL_FAILED wrapping "terminating connection…"); undefined otherwise.
 * The exit code stays the original's: after the switch it still says so.
 */
export function lostConnection(error: unknown): BluegreenError | undefined {
  if (isUnreachable(error)) return undefined
  let lost: unknown
  for (let cause = error, depth = 0; cause !== undefined && depth < 8; depth++) {
    if (isUnreachable(cause) || (!(cause instanceof BluegreenError) && isConnectionLost(cause))) {
      lost = cause
      break
    }
    cause = cause instanceof Error ? cause.cause : undefined
  }
  if (lost === undefined) return undefined
  const original = error instanceof BluegreenError ? error : undefined
  return new BluegreenError({
    code: 'DATABASE_UNREACHABLE',
    message: `the connection to PostgreSQL was lost: ${original?.message ?? (error as Error).message}`,
    details: original?.details,
    hint: resumeHint,
    exitCode: original && original.exitCode !== ExitCode.usage ? original.exitCode : undefined,
    cause: error,
  })
}
