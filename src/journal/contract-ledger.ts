/**
 * The contract ledger port: each release's contract migrations, recorded as pending when the
 * release ships and marked applied when they ran (or cancelled when the release was rolled back).
 * A journal that lives in PostgreSQL has one (`journal.contracts`); the state file and the
 * offline spool have none, and a plan without a database has no contract to keep.
 */
import type { Client } from '../db/client.js'

export interface ContractFile {
  file: string
  checksum: string
}

/** A sync the release declared: its contract checks parity, then drops the trigger. */
export interface ContractSyncCheck {
  table: string
  forward: Record<string, string>
  backward: Record<string, string>
}

/** A plain backfill of the release: its contract checks that no row still matches `where`. */
export interface ContractBackfillCheck {
  table: string
  set: string
  where: string
  key?: string[]
}

export interface RecordContractOptions {
  app: string
  /** The release's id in the journal. */
  release: string
  /** The release's version, for people (default: `release`). */
  version?: string
  /** Release order; contracts run oldest first (default: after every recorded one). */
  releaseSeq?: number
  /** Absolute directory of the files. */
  dir: string
  files: ContractFile[]
  /** Not to run before this time. */
  notBefore: Date
  syncs?: ContractSyncCheck[]
  backfills?: ContractBackfillCheck[]
}

export interface PendingContract {
  app: string
  release: string
  version: string
  releaseSeq: number
  dir: string
  files: ContractFile[]
  notBefore: Date
  syncs: ContractSyncCheck[]
  backfills: ContractBackfillCheck[]
  recordedAt: Date
  /** Whether `notBefore` has passed (by the database's clock). */
  due: boolean
  /** When `contract --check` told the webhooks it was due, and overdue (each is told once). */
  notifiedDueAt?: Date
  notifiedOverdueAt?: Date
}

/** The reminders `contract --check` sends, each once per contract. */
export type ContractReminder = 'due' | 'overdue'

export interface AppliedContract extends Omit<
  PendingContract,
  'due' | 'notifiedDueAt' | 'notifiedOverdueAt'
> {
  appliedAt: Date
}

export interface ContractLedger {
  /** The database the contracts run in: the journal's own connection. */
  readonly connection: Client
  /** Records a release's contract as pending; idempotent, refuses other files for the same release. */
  record(options: RecordContractOptions): Promise<{ recorded: boolean }>
  pending(app: string): Promise<PendingContract[]>
  applied(app: string): Promise<AppliedContract[]>
  markApplied(options: { app: string; release: string }): Promise<void>
  /** A rolled-back release never contracts; true when there was something to cancel. */
  cancel(options: { app: string; release: string }): Promise<boolean>
  /**
   * Claims a reminder of a pending contract: true when it was not yet sent (it is now recorded as
   * sent), false when it was, so concurrent checks send it once.
   */
  claimReminder(options: { app: string; release: string; reminder: ContractReminder }): Promise<boolean>
  /** Gives a claimed reminder back (no webhook got it), so that the next check tries again. */
  unclaimReminder(options: { app: string; release: string; reminder: ContractReminder }): Promise<void>
}
