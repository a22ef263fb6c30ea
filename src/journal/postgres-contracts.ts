/**
 * The contract ledger in PostgreSQL (schema `bluegreen`, beside the journal). The contract phase
 * decides when a pending contract is safe; this file only keeps the record, and the schema keeps
 * it honest (state-schema.ts: files never change once recorded, applied is final).
 */
import { BluegreenError } from '../errors.js'
import { withTransaction, type Client } from '../db/client.js'
import { ensureStateSchema, stateSchemaExists } from '../db/state-schema.js'
import type {
  AppliedContract,
  ContractBackfillCheck,
  ContractFile,
  ContractLedger,
  ContractReminder,
  ContractSyncCheck,
  PendingContract,
  RecordContractOptions,
} from './contract-ledger.js'

/** The ledger on the journal's connection: contracts run in the database the journal lives in. */
export function postgresContractLedger(client: Client): ContractLedger {
  return {
    connection: client,
    record: (options) => recordPendingContract(client, options),
    pending: (app) => pendingContracts(client, app),
    applied: (app) => appliedContracts(client, app),
    markApplied: (options) => markContractApplied(client, options),
    cancel: (options) => cancelPendingContract(client, options),
    claimReminder: (options) => claimReminder(client, options),
    unclaimReminder: (options) => unclaimReminder(client, options),
  }
}

/**
 * Records a release's contract migrations as pending. Idempotent: recording the same files again
 * does nothing; recording different files or checksums for the same release is refused.
 */
export async function recordPendingContract(
  client: Client,
  options: RecordContractOptions,
): Promise<{ recorded: boolean }> {
  await ensureStateSchema(client)
  return withTransaction(client, async () => {
    const inserted = await client.query(
      `INSERT INTO bluegreen.contracts (app, release, version, release_seq, dir, not_before, syncs, backfills)
       VALUES ($1, $2, $3,
               coalesce($4::bigint, (SELECT coalesce(max(release_seq), 0) + 1 FROM bluegreen.contracts WHERE app = $1)),
               $5, $6, $7::json, $8::json)
       ON CONFLICT (app, release) DO NOTHING`,
      [
        options.app,
        options.release,
        options.version ?? options.release,
        options.releaseSeq ?? null,
        options.dir,
        options.notBefore,
        JSON.stringify(options.syncs ?? []),
        JSON.stringify(options.backfills ?? []),
      ],
    )
    if (inserted.rowCount === 1) {
      for (const [position, file] of options.files.entries()) {
        await client.query(
          'INSERT INTO bluegreen.contract_files (app, release, position, file, checksum) VALUES ($1, $2, $3, $4, $5)',
          [options.app, options.release, position, file.file, file.checksum],
        )
      }
      return { recorded: true }
    }
    const recorded = await filesOf(client, options.app, [options.release])
    const before = (recorded.get(options.release) ?? []).map((f) => `${f.file} ${f.checksum}`).join('\n')
    const now = options.files.map((f) => `${f.file} ${f.checksum}`).join('\n')
    if (before !== now) {
      throw new BluegreenError({
        code: 'MIGRATION_CHANGED',
        message: `the contract migrations of release ${options.version ?? options.release} were recorded with other files or checksums`,
        details: [
          `recorded: ${(recorded.get(options.release) ?? []).map((f) => f.file).join(', ') || '(none)'}`,
          `now:      ${options.files.map((f) => f.file).join(', ') || '(none)'}`,
        ],
        hint: 'a recorded contract is what will run: revert the edit, and put further changes in the next release',
      })
    }
    return { recorded: false }
  })
}

/** Contracts recorded and neither applied nor cancelled, oldest release first. */
export async function pendingContracts(client: Client, app: string): Promise<PendingContract[]> {
  if (!(await stateSchemaExists(client))) return []
  // A schema made by an older bluegreen lacks the reminder columns read below.
  await ensureStateSchema(client)
  const rows = await contractRows(client, app, 'applied_at IS NULL AND cancelled_at IS NULL')
  return rows.map(({ appliedAt: _appliedAt, ...contract }) => contract)
}

/** Contracts that ran, oldest release first. */
export async function appliedContracts(client: Client, app: string): Promise<AppliedContract[]> {
  if (!(await stateSchemaExists(client))) return []
  const rows = await contractRows(client, app, 'applied_at IS NOT NULL')
  return rows.map(({ due: _due, appliedAt, notifiedDueAt: _d, notifiedOverdueAt: _o, ...contract }) => ({
    ...contract,
    appliedAt: appliedAt!,
  }))
}

/** Marks a pending contract applied; marking it again does nothing. */
export async function markContractApplied(
  client: Client,
  options: { app: string; release: string },
): Promise<void> {
  await ensureStateSchema(client)
  const { rows } = await client.query<{ applied: boolean; cancelled: boolean }>(
    `WITH marked AS (
       UPDATE bluegreen.contracts SET applied_at = now()
        WHERE app = $1 AND release = $2 AND applied_at IS NULL AND cancelled_at IS NULL
       RETURNING 1)
     SELECT applied_at IS NOT NULL OR EXISTS (SELECT 1 FROM marked) AS applied, cancelled_at IS NOT NULL AS cancelled
       FROM bluegreen.contracts WHERE app = $1 AND release = $2`,
    [options.app, options.release],
  )
  const row = rows[0]
  if (!row) {
    throw new BluegreenError({
      code: 'CONTRACT_FAILED',
      message: `no contract is recorded for release ${options.release} of ${options.app}`,
      hint: 'contracts are recorded by the release’s contract phase; check the release id',
    })
  }
  if (row.cancelled) {
    throw new BluegreenError({
      code: 'CONTRACT_UNSAFE',
      message: `the contract of release ${options.release} was cancelled (the release was rolled back)`,
      hint: 'a rolled-back release must not contract; what it would remove is in use again',
    })
  }
}

/**
 * Cancels a pending contract (its release was rolled back, so what it removes is in use again).
 * Returns false when there was nothing pending to cancel.
 */
export async function cancelPendingContract(
  client: Client,
  options: { app: string; release: string },
): Promise<boolean> {
  if (!(await stateSchemaExists(client))) return false
  const result = await client.query(
    `UPDATE bluegreen.contracts SET cancelled_at = now()
      WHERE app = $1 AND release = $2 AND applied_at IS NULL AND cancelled_at IS NULL`,
    [options.app, options.release],
  )
  return result.rowCount === 1
}

const reminderColumn: Record<ContractReminder, string> = {
  due: 'notified_due_at',
  overdue: 'notified_overdue_at',
}

async function claimReminder(
  client: Client,
  options: { app: string; release: string; reminder: ContractReminder },
): Promise<boolean> {
  await ensureStateSchema(client)
  const column = reminderColumn[options.reminder]
  // One statement: of two checks at once, one claims it.
  const result = await client.query(
    `UPDATE bluegreen.contracts SET ${column} = now()
      WHERE app = $1 AND release = $2 AND ${column} IS NULL AND applied_at IS NULL AND cancelled_at IS NULL`,
    [options.app, options.release],
  )
  return result.rowCount === 1
}

async function unclaimReminder(
  client: Client,
  options: { app: string; release: string; reminder: ContractReminder },
): Promise<void> {
  const column = reminderColumn[options.reminder]
  await client.query(
    `UPDATE bluegreen.contracts SET ${column} = NULL
      WHERE app = $1 AND release = $2 AND applied_at IS NULL AND cancelled_at IS NULL`,
    [options.app, options.release],
  )
}

interface ContractRow extends PendingContract {
  appliedAt?: Date
}

async function contractRows(client: Client, app: string, condition: string): Promise<ContractRow[]> {
  const { rows } = await client.query<{
    app: string
    release: string
    version: string
    release_seq: string
    dir: string
    not_before: Date
    syncs: ContractSyncCheck[]
    backfills: ContractBackfillCheck[]
    recorded_at: Date
    applied_at: Date | null
    due: boolean
    notified_due_at: Date | null
    notified_overdue_at: Date | null
  }>(
    `SELECT app, release, version, release_seq, dir, not_before, syncs, backfills, recorded_at, applied_at,
            not_before <= now() AS due, notified_due_at, notified_overdue_at
       FROM bluegreen.contracts WHERE app = $1 AND ${condition} ORDER BY release_seq`,
    [app],
  )
  const files = await filesOf(
    client,
    app,
    rows.map((r) => r.release),
  )
  return rows.map((r) => ({
    app: r.app,
    release: r.release,
    version: r.version,
    releaseSeq: Number(r.release_seq),
    dir: r.dir,
    files: files.get(r.release) ?? [],
    notBefore: r.not_before,
    syncs: r.syncs,
    backfills: r.backfills,
    recordedAt: r.recorded_at,
    due: r.due,
    appliedAt: r.applied_at ?? undefined,
    ...(r.notified_due_at ? { notifiedDueAt: r.notified_due_at } : {}),
    ...(r.notified_overdue_at ? { notifiedOverdueAt: r.notified_overdue_at } : {}),
  }))
}

async function filesOf(
  client: Client,
  app: string,
  releases: string[],
): Promise<Map<string, ContractFile[]>> {
  const { rows } = await client.query<{ release: string; file: string; checksum: string }>(
    `SELECT release, file, checksum FROM bluegreen.contract_files
      WHERE app = $1 AND release = ANY($2::text[]) ORDER BY release, position`,
    [app, releases],
  )
  const byRelease = new Map<string, ContractFile[]>()
  for (const row of rows) {
    const list = byRelease.get(row.release) ?? []
    list.push({ file: row.file, checksum: row.checksum })
    byRelease.set(row.release, list)
  }
  return byRelease
}
