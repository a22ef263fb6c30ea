/**
 * Sync triggers that nothing will drop. A release's contract drops its own syncs; a release that
 * was rolled back never contracts (its contract is cancelled), so if no later release declares
 * the same sync and takes it over (installSync), its triggers would stay on the table for good,
 * computing columns nobody reads and breaking writes once those columns go. The next release's
 * expand drops them, before it installs its own.
 */
import { findTable } from './backfill.js'
import { sqlStateOf, withTransaction, type Client } from './client.js'
import { defaultRetryPolicy, retryOnLockTimeout } from './lock-retry.js'
import { dropSyncsInTransaction, sessionDefaults, type TableSync } from './sync.js'

/** SQLSTATE 42P01: the state schema's tables are not there yet. */
const UNDEFINED_TABLE = '42P01'

export interface OrphanSync {
  release: string
  version: string
  table: string
  /** The trigger's (and function's) name. */
  name: string
}

export interface DropOrphanSyncsOptions {
  app: string
  /** The release whose expand runs: only syncs of earlier releases are considered. */
  releaseSeq: number
  /** What this release declares: an identical sync is left for installSync to take over. */
  declared: TableSync[]
  /**
   * Releases the journal knows as rolled back (ids), or what reads them: it is called only when an
   * earlier release has a sync still active, so an expand with nothing to drop does not ask the
   * journal. Besides these, a release whose contract the ledger has cancelled counts as rolled back.
   */
  rolledBack?: string[] | (() => Promise<string[]>)
  lockTimeoutMs: number
  attempts?: number
}

/**
 * Active syncs of earlier, rolled-back releases that this release does not declare. Outside a
 * transaction: with no sync of an earlier release active it costs one query, and no state schema
 * at all (a database bluegreen never wrote to) is that query failing.
 */
export async function orphanSyncs(
  client: Client,
  options: Omit<DropOrphanSyncsOptions, 'lockTimeoutMs' | 'attempts'>,
): Promise<OrphanSync[]> {
  const earlier = await client
    .query<{
      release: string
      version: string
      table_name: string
      object_name: string
      forward: Record<string, string>
      backward: Record<string, string>
      cancelled: boolean
    }>(
      `SELECT s.release, s.version, s.table_name, s.object_name, s.forward, s.backward,
              EXISTS (SELECT 1 FROM bluegreen.contracts c
                       WHERE c.app = s.app AND c.release = s.release AND c.cancelled_at IS NOT NULL) AS cancelled
         FROM bluegreen.syncs s
        WHERE s.app = $1 AND s.dropped_at IS NULL AND s.release_seq < $2
        ORDER BY s.release_seq, s.table_name`,
      [options.app, options.releaseSeq],
    )
    .catch((error: unknown) => {
      if (sqlStateOf(error) === UNDEFINED_TABLE) return { rows: [] }
      throw error
    })
  if (earlier.rows.length === 0) return []
  const listed = options.rolledBack ?? []
  const rolledBack = new Set(
    earlier.rows.every((r) => r.cancelled) ? [] : typeof listed === 'function' ? await listed() : listed,
  )
  await sessionDefaults(client)
  const declared = new Set<string>()
  for (const sync of options.declared) {
    const table = await findTable(client, sync.table)
    if (table) declared.add(identity(table.name, sync.forward, sync.backward))
  }
  return earlier.rows
    .filter((r) => r.cancelled || rolledBack.has(r.release))
    .filter((r) => !declared.has(identity(r.table_name, r.forward, r.backward)))
    .map((r) => ({ release: r.release, version: r.version, table: r.table_name, name: r.object_name }))
}

/**
 * Drops the orphan syncs (see the file comment), each table in its own short transaction under
 * lock_timeout (dropping a trigger locks its table), retried like any DDL. Returns what it dropped.
 */
export async function dropOrphanSyncs(
  client: Client,
  options: DropOrphanSyncsOptions,
): Promise<OrphanSync[]> {
  const orphans = await orphanSyncs(client, options)
  const policy = { ...defaultRetryPolicy, attempts: options.attempts ?? defaultRetryPolicy.attempts }
  for (const orphan of orphans) {
    await retryOnLockTimeout(policy, () =>
      withTransaction(client, async () => {
        await client.query(`SET LOCAL lock_timeout = '${Math.round(options.lockTimeoutMs)}ms'`)
        await dropSyncsInTransaction(client, {
          app: options.app,
          release: orphan.release,
          table: orphan.table,
        })
      }),
    )
  }
  return orphans
}

/** What a step's summary says of them, e.g. `dropped the sync of rolled-back 2.0.0 on public.profiles`. */
export function describeDroppedOrphans(orphans: OrphanSync[]): string | undefined {
  if (orphans.length === 0) return undefined
  return `dropped the sync${orphans.length === 1 ? '' : 's'} of rolled-back ${orphans
    .map((o) => `${o.version} on ${o.table} (${o.name})`)
    .join(', ')}`
}

/** Keys in a fixed order, so two equal maps compare equal whatever order jsonb gave them. */
function identity(table: string, forward: Record<string, string>, backward: Record<string, string>): string {
  const sorted = (map: Record<string, string>) => Object.entries(map).sort(([a], [b]) => a.localeCompare(b))
  return JSON.stringify([table, sorted(forward), sorted(backward)])
}
