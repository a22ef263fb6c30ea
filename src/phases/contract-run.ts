/**
 * What the contract phase and `bluegreen contract` run. Contract, made safe by construction. Release R's contract migrations remove what R−1 still
 * used, so they may run only once no pool can run anything older than R:
 *   - the live pool runs R or later, and
 *   - the standby pool runs R or later (the next release's deploy replaced it) or was retired;
 * and only when they are due (`notBefore`). A release that was rolled back never contracts.
 */
import { lostConnection, type Client } from '../db/client.js'
import { BluegreenError, isBluegreenError } from '../errors.js'
import { formatDuration, parseDuration } from '../format/duration.js'
import type { ContractLedger, ContractReminder, PendingContract } from '../journal/contract-ledger.js'
import { isKnownGood, type Pools, type ReleaseRecord } from '../journal/journal.js'
import type { Traffic } from '../lb/types.js'
import type { Notification } from '../notify/notification.js'
import { poolNames, type PoolName } from '../pools.js'
import { databaseSettings } from './database.js'
import type { ContractChecks, PhaseServices, PlanStep } from './types.js'

export interface ContractDecision {
  release: string
  version: string
  files: string[]
  status: 'ran' | 'would run' | 'waiting' | 'applied'
  reason?: string
  /** --dry-run: what the contract checks before it drops anything, each with its result. */
  checks?: string[]
}

/** The ledger, or a plan error: contracts need the journal in the application's database. */
function requireLedger(ctx: Pick<PhaseServices, 'journal'>): ContractLedger {
  const ledger = ctx.journal.contracts
  if (!ledger) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: 'contract migrations need a database, and this plan has none',
      hint: 'add `database: { url: ... }` to the plan',
    })
  }
  return ledger
}

/** Records this release's own contract migrations as pending (idempotent). */
export async function recordOwnContract(
  ctx: PhaseServices & { steps: readonly PlanStep[] },
  release: ReleaseRecord,
  config: { dir: string; notBefore: string },
): Promise<string[]> {
  const ledger = requireLedger(ctx)
  const client = ledger.connection
  const { listMigrations, appliedMigrations } = await import('../db/migrations.js')
  const dir = config.dir
  const applied = new Set(
    (await appliedMigrations(client, ctx.plan.app)).filter((m) => m.phase === 'contract').map((m) => m.file),
  )
  const files = (await listMigrations(dir)).filter((m) => !applied.has(m.file))
  const checks = await releaseChecks(ctx.steps)
  if (files.length === 0 && checks.syncs.length === 0 && checks.backfills.length === 0) return []
  await ledger.record({
    ...checks,
    app: ctx.plan.app,
    release: release.id,
    version: release.version,
    releaseSeq: release.seq,
    dir,
    files: files.map((f) => ({ file: f.file, checksum: f.checksum })),
    notBefore: new Date(Date.parse(release.startedAt) + parseDuration(config.notBefore)),
  })
  return files.map((f) => f.file)
}

/** What the release's contract must check before it drops anything: what its steps declared. */
async function releaseChecks(steps: readonly PlanStep[]): Promise<ContractChecks> {
  const checks: ContractChecks = { syncs: [], backfills: [] }
  for (const { definition, config } of steps) {
    const declared = await definition.contractChecks?.(config)
    checks.syncs.push(...(declared?.syncs ?? []))
    checks.backfills.push(...(declared?.backfills ?? []))
  }
  return checks
}

interface CheckFailure {
  /** e.g. `sync of profiles: 3 rows where first_name, last_name differ from forward(old)` */
  message: string
  examples: string[]
  /** The backfill that makes the check pass. */
  fix: { table: string; set: string; where: string; key?: string[]; sync: boolean }
}

/** Runs a pending contract's checks: parity of each sync, nothing left for each backfill. */
async function failedChecks(client: Client, pending: PendingContract): Promise<CheckFailure[]> {
  const { rowsMatching, syncBackfill } = await import('../db/sync.js')
  const failures: CheckFailure[] = []
  for (const sync of pending.syncs) {
    const fix = syncBackfill(sync)
    const { count, examples } = await rowsMatching(client, sync.table, fix.where)
    if (count > 0) {
      failures.push({
        message: `sync of ${sync.table}: ${count} row${count === 1 ? '' : 's'} where ${Object.keys(sync.forward).join(', ')} differ from forward(old)`,
        examples,
        fix: { table: sync.table, ...fix, sync: true },
      })
    }
  }
  for (const backfill of pending.backfills) {
    const { count, examples } = await rowsMatching(client, backfill.table, backfill.where)
    if (count > 0) {
      failures.push({
        message: `backfill of ${backfill.table} (${backfill.set}): ${count} row${count === 1 ? '' : 's'} still match ${backfill.where}`,
        examples,
        fix: { ...backfill, sync: false },
      })
    }
  }
  return failures
}

/** Each check of a pending contract in words, with what it found: `--dry-run` lists them. */
function dryRunChecks(pending: PendingContract, failures: CheckFailure[]): string[] {
  const failed = new Map(
    failures.map((f) => [`${f.fix.sync ? 'sync' : 'backfill'} ${f.fix.table}`, f.message]),
  )
  return [
    ...pending.syncs.map(
      (s) => failed.get(`sync ${s.table}`) ?? `sync of ${s.table}: every row in line with forward(old)`,
    ),
    ...pending.backfills.map(
      (b) =>
        failed.get(`backfill ${b.table}`) ?? `backfill of ${b.table} (${b.set}): no row matches ${b.where}`,
    ),
  ]
}

/** Runs the backfills that make the failed checks pass. */
async function runMissingWork(ctx: PhaseServices, client: Client, failures: CheckFailure[]): Promise<void> {
  const { backfill } = await import('../db/backfill.js')
  const { SYNC_BACKFILL_BATCHES, SYNC_BYPASS_SETTING } = await import('../db/sync.js')
  const { lockTimeoutMs, statementTimeoutMs, attempts } = migrationTimeouts(ctx)
  for (const { fix } of failures) {
    await backfill(client, {
      table: fix.table,
      set: fix.set,
      where: fix.where,
      key: fix.key,
      // A sync's rows as the expand phase brings them in line (batches sized to a short hold).
      ...(fix.sync ? SYNC_BACKFILL_BATCHES : { batchSize: 1000 }),
      lockTimeoutMs,
      statementTimeoutMs,
      attempts,
      settings: fix.sync ? { [SYNC_BYPASS_SETTING]: 'off' } : undefined,
      signal: ctx.signal,
    })
  }
}

function contractUnsafe(pending: PendingContract, failures: CheckFailure[]): BluegreenError {
  return new BluegreenError({
    code: 'CONTRACT_UNSAFE',
    message: `the contract of ${pending.version} would drop data not yet carried over: ${failures.map((f) => f.message).join('; ')}`,
    details: failures.map((f) => `${f.message}; e.g. keys ${f.examples.join(', ')}`),
    hint: 'run `bluegreen contract PLAN --backfill` to bring those rows in line first (a sync through its forward expressions, a backfill through its set), or fix them by hand',
  })
}

/** Runs every pending contract that is safe and due; says why the others wait. */
export async function runDueContracts(
  ctx: PhaseServices,
  options: {
    dryRun: boolean
    /** Asked before each release's contract runs, with what it removes; throws to refuse. */
    confirm?: (question: string) => Promise<void>
    /** Run the work a failed check found missing, then check again. */
    backfill?: boolean
    /** What a failed check does: refuse (CONTRACT_UNSAFE, exit 5) or leave the contract waiting. */
    onUnsafe?: 'refuse' | 'wait'
  },
): Promise<ContractDecision[]> {
  const ledger = requireLedger(ctx)
  const client = ledger.connection
  const { applyMigrations } = await import('../db/migrations.js')
  const { dropSyncsInTransaction } = await import('../db/sync.js')
  const { plan, journal } = ctx
  const decisions: ContractDecision[] = []
  for (const { pending, state, reason } of await contractStandings(ctx)) {
    const base = {
      release: pending.release,
      version: pending.version,
      files: pending.files.map((f) => f.file),
    }
    const wait = (reason: string) => {
      decisions.push({ ...base, status: 'waiting', reason })
      ctx.emit({ type: 'contract.wait', release: pending.release, version: pending.version, reason })
    }
    if (state === 'waiting') {
      wait(reason)
      continue
    }
    // Before anything is dropped: the data must be where the new version reads it.
    let failures = await failedChecks(client, pending)
    if (options.dryRun) {
      decisions.push({
        ...base,
        status: 'would run',
        checks: dryRunChecks(pending, failures),
        ...(failures.length > 0
          ? {
              reason: `would refuse unless run with --backfill: ${failures.map((f) => f.message).join('; ')}`,
            }
          : {}),
      })
      continue
    }
    if (failures.length > 0 && options.backfill) {
      await runMissingWork(ctx, client, failures)
      failures = await failedChecks(client, pending)
    }
    const dependents = failures.length === 0 ? await dropDependents(client, plan.app, pending) : []
    if (dependents.length > 0) {
      const error = new BluegreenError({
        code: 'CONTRACT_UNSAFE',
        message: `the contract of ${pending.version} drops columns that something still uses: ${dependents.join('; ')}`,
        hint: 'drop or change what depends on them first (in this release’s contract SQL, or by hand), then run `bluegreen contract PLAN`',
      })
      if (options.onUnsafe !== 'wait') throw error
      wait(`${error.message}; ${error.hint}`)
      continue
    }
    if (failures.length > 0) {
      const error = contractUnsafe(pending, failures)
      if (options.onUnsafe !== 'wait') throw error
      wait(`${error.message}; ${error.hint}`)
      continue
    }
    let dropped: string[] = []
    if (options.confirm)
      await options.confirm(await contractQuestion(pending.version, pending.dir, base.files))
    ctx.emit({ type: 'contract.run', release: pending.release, version: pending.version, files: base.files })
    try {
      await applyMigrations(client, {
        dir: pending.dir,
        phase: 'contract',
        release: pending.version,
        app: plan.app,
        files: base.files,
        expectedChecksums: Object.fromEntries(pending.files.map((f) => [f.file, f.checksum])),
        lint: true,
        signal: ctx.signal,
        ...migrationTimeouts(ctx),
        // The sync triggers go in the transaction of the first statements: a write either comes
        // before both (synced) or after both (the old columns are gone).
        prelude: async (tx) => {
          dropped = await dropSyncsInTransaction(tx, { app: plan.app, release: pending.release })
        },
      })
      await auditDroppedSyncs(ctx, pending, dropped)
    } catch (error) {
      // A lost connection is not a broken migration: say so, and how to continue.
      const lost = lostConnection(error)
      if (lost) throw lost
      // Interrupted (SIGINT) is not a failed contract either: the release stops, resumable.
      if (isBluegreenError(error) && error.code === 'INTERRUPTED') throw error
      throw new BluegreenError({
        code: 'CONTRACT_FAILED',
        message: `contract migrations of ${pending.version} failed: ${(error as Error).message}`,
        details: (error as BluegreenError).details,
        hint: 'production is unaffected (the live version does not need what they remove); fix the migration and run `bluegreen contract PLAN`',
        cause: error,
      })
    }
    await ledger.markApplied({ app: plan.app, release: pending.release })
    // history shows contract runs: what ran, for which release, and who ran it.
    await journal
      .audit({
        app: plan.app,
        action: 'contract',
        actor: ctx.actor,
        detail: `ran ${pending.version}'s contract: ${base.files.join(', ')}`,
      })
      .catch(() => {})
    ctx.notifier?.notifyInBackground({
      event: 'contract.applied',
      app: plan.app,
      at: new Date().toISOString(),
      version: pending.version,
      releaseId: pending.release,
      by: ctx.actor,
      files: base.files,
    })
    decisions.push({
      ...base,
      status: 'ran',
      ...(dropped.length > 0 ? { reason: `dropped the sync of ${dropped.join(', ')}` } : {}),
    })
  }
  return decisions
}

/** "Run 2.0.0's contract?" with each file and the statements in it that remove something. */
async function contractQuestion(version: string, dir: string, files: string[]): Promise<string> {
  const { dropStatements } = await import('../db/drop-statements.js')
  const lines = (await dropStatements(dir, files)).flatMap(({ file, statements }) => [
    `  ${file}${statements.length === 0 ? ': removes nothing' : ''}`,
    ...statements.map((statement) => `    ${statement}`),
  ])
  return `${version}'s contract migrations will run; they cannot be undone:\n${lines.join('\n')}\nRun them?`
}

/** What the live catalog says still depends on the columns the contract's files drop. */
async function dropDependents(client: Client, app: string, pending: PendingContract): Promise<string[]> {
  const { listMigrations } = await import('../db/migrations.js')
  const { parseSqlFile } = await import('../db/sql-file.js')
  const { droppedColumns, dropDependencies } = await import('../db/drop-dependencies.js')
  const wanted = new Set(pending.files.map((f) => f.file))
  const dropped = []
  // A missing or unparsable file is left to applyMigrations, which says so with its position.
  const files = await listMigrations(pending.dir).catch(() => [])
  for (const file of files.filter((f) => wanted.has(f.file))) {
    const parsed = await parseSqlFile(file.sql, file.realPath).catch(() => undefined)
    if (parsed) dropped.push(...droppedColumns(parsed.statements))
  }
  return dropped.length > 0 ? dropDependencies(client, app, pending.release, dropped) : []
}

async function auditDroppedSyncs(
  ctx: PhaseServices,
  pending: PendingContract,
  tables: string[],
): Promise<void> {
  for (const table of tables) {
    await ctx.journal.audit({
      app: ctx.plan.app,
      action: 'sync.drop',
      actor: ctx.actor,
      detail: `sync of ${table} (release ${pending.version}) dropped by its contract`,
    })
  }
}

/** Contract migrations already applied by releases newer than `seq`: they make `seq` schema-incompatible. */
export async function appliedContractsAfter(
  ctx: Pick<PhaseServices, 'journal' | 'plan'>,
  seq: number,
): Promise<{ version: string; files: string[] }[]> {
  const ledger = ctx.journal.contracts
  if (!ledger) return []
  return (await ledger.applied(ctx.plan.app))
    .filter((c) => c.releaseSeq > seq)
    .map((c) => ({ version: c.version, files: c.files.map((f) => f.file) }))
}

/** The plan's lock and statement timeouts, as the expand phase uses them. */
function migrationTimeouts(ctx: Pick<PhaseServices, 'plan'>) {
  const { lockTimeoutMs, statementTimeoutMs, attempts } = databaseSettings(ctx.plan, 'contract')
  return { lockTimeoutMs, statementTimeoutMs, attempts }
}

/**
 * Where a pending contract stands: `waiting` (a pool that a rollback or the traffic may still
 * use runs an older release, or `notBefore` has not come), `due` (safe and past `notBefore`), or
 * `overdue` (due for longer than the plan's `contract.remindAfter`).
 */
export type ContractState = 'waiting' | 'due' | 'overdue'

export type ContractStanding = {
  pending: PendingContract
  /** How long it has been pending (since its release recorded it), ms. */
  ageMs: number
} & (
  | { state: 'waiting'; reason: string }
  | {
      state: 'due' | 'overdue'
      reason?: undefined
      /** Since when it is safe and past `notBefore` (as far as the journal can tell). */
      dueSince: Date
      /** How long it has been due, ms. */
      dueMs: number
    }
)

/** What the classification reads: the load balancer's weights, the journal's pools, the clock. */
export interface ContractFacts {
  traffic: Pick<Traffic, 'weights'>
  pools: Pools
  now: Date
  /** The plan's `contract.remindAfter`, ms. */
  remindAfterMs: number
}

/** Classifies one pending contract; pure. runDueContracts, status and `contract --check` share it. */
export function classifyContract(pending: PendingContract, facts: ContractFacts): ContractStanding {
  const { traffic, pools, now } = facts
  const ageMs = Math.max(0, now.getTime() - pending.recordedAt.getTime())
  // What a possible rollback target or the live traffic still runs: pools that get traffic now,
  // and the known-good ones (live, standby). Candidates, rolled-back and retired pools are no
  // rollback target, so what only they need may go.
  const needed = poolNames.filter((pool) => traffic.weights[pool] > 0 || isKnownGood(pools[pool]))
  const older = needed.find((pool) => (pools[pool]?.releaseSeq ?? 0) < pending.releaseSeq)
  if (older) {
    const record = pools[older]
    const reason =
      traffic.weights[older] > 0
        ? `${older} gets traffic and runs ${record?.version ?? 'an older version'}, which still needs what it removes`
        : `the standby pool ${older} (${record?.version ?? 'the previous version'}) is a rollback target that still needs what it removes; it becomes safe after the next release's deploy or \`bluegreen retire\``
    return { pending, ageMs, state: 'waiting', reason }
  }
  if (pending.notBefore.getTime() > now.getTime()) {
    return { pending, ageMs, state: 'waiting', reason: `not due before ${pending.notBefore.toISOString()}` }
  }
  const dueSince = new Date(Math.max(pending.notBefore.getTime(), safeSince(pending, pools)))
  const dueMs = Math.max(0, now.getTime() - dueSince.getTime())
  return { pending, ageMs, state: dueMs > facts.remindAfterMs ? 'overdue' : 'due', dueSince, dueMs }
}

/**
 * When the last pool that held it back let go, as far as the journal tells: the pools of older
 * releases took their present standing (retired, rolled back) then. A pool replaced by a later
 * release leaves no such trace, and the contract counts from when its release recorded it.
 */
function safeSince(pending: PendingContract, pools: Pools): number {
  const older = poolNames
    .map((pool: PoolName) => pools[pool])
    .filter((record) => record !== undefined && record.releaseSeq < pending.releaseSeq)
    .map((record) => Date.parse(record!.since))
  return Math.max(pending.recordedAt.getTime(), ...older.filter((t) => !Number.isNaN(t)))
}

/** The plan's `contract.remindAfter` (the first contract step's), ms; 28 days without one. */
export function remindAfterMs(plan: PhaseServices['plan']): number {
  for (const entry of plan.phases) {
    const config = (entry as { contract?: { remindAfter?: string } }).contract
    if (config?.remindAfter) return parseDuration(config.remindAfter)
  }
  return parseDuration('28d')
}

/** Every pending contract of the app with its standing, oldest release first. */
export async function contractStandings(
  ctx: Pick<PhaseServices, 'journal' | 'lb' | 'plan'>,
  known?: { traffic: Pick<Traffic, 'weights'>; pools: Pools },
): Promise<ContractStanding[]> {
  const ledger = requireLedger(ctx)
  const [traffic, pools, pending] = await Promise.all([
    known?.traffic ?? ctx.lb.traffic(),
    known?.pools ?? ctx.journal.pools(ctx.plan.app),
    ledger.pending(ctx.plan.app),
  ])
  const facts = { traffic, pools, now: new Date(), remindAfterMs: remindAfterMs(ctx.plan) }
  return pending.sort((a, b) => a.releaseSeq - b.releaseSeq).map((p) => classifyContract(p, facts))
}

export interface ContractCheck {
  /** The most pressing state: overdue before due before waiting (none pending: waiting). */
  worst: ContractState
  contracts: ContractStanding[]
  /** The reminders sent by this check (each is sent once per contract). */
  notified: { release: string; version: string; event: 'contract.due' | 'contract.overdue' }[]
}

/**
 * `contract --check`: changes nothing but the record of which reminders were sent. Tells the
 * webhooks of each contract that became due or overdue, once per contract (claimed in the
 * ledger before sending, given back when no webhook got it).
 */
export async function checkContracts(ctx: PhaseServices): Promise<ContractCheck> {
  const ledger = requireLedger(ctx)
  const contracts = await contractStandings(ctx)
  const notified: ContractCheck['notified'] = []
  for (const standing of contracts) {
    if (standing.state === 'waiting') continue
    const reminder: ContractReminder = standing.state
    const { pending } = standing
    const already = reminder === 'due' ? pending.notifiedDueAt : pending.notifiedOverdueAt
    const event = reminder === 'due' ? 'contract.due' : 'contract.overdue'
    if (already || !ctx.notifier?.wants(event)) continue
    const key = { app: ctx.plan.app, release: pending.release, reminder }
    if (!(await ledger.claimReminder(key))) continue
    const report = await ctx.notifier.notify(reminderNotification(ctx, standing, event))
    for (const message of report.warnings) ctx.emit({ type: 'warning', message })
    if (report.deliveries.some((d) => d.ok))
      notified.push({ release: pending.release, version: pending.version, event })
    else await ledger.unclaimReminder(key)
  }
  const states = new Set(contracts.map((c) => c.state))
  const worst: ContractState = states.has('overdue') ? 'overdue' : states.has('due') ? 'due' : 'waiting'
  return { worst, contracts, notified }
}

function reminderNotification(
  ctx: PhaseServices,
  standing: Extract<ContractStanding, { state: 'due' | 'overdue' }>,
  event: 'contract.due' | 'contract.overdue',
): Notification {
  const { pending } = standing
  const remind = formatDuration(remindAfterMs(ctx.plan))
  return {
    event,
    app: ctx.plan.app,
    at: new Date().toISOString(),
    version: pending.version,
    releaseId: pending.release,
    files: pending.files.map((f) => f.file),
    since: standing.dueSince.toISOString(),
    reason:
      event === 'contract.due'
        ? `safe to run: \`bluegreen contract PLAN\` (overdue after ${remind})`
        : `due for ${formatDuration(standing.dueMs)}, longer than remindAfter ${remind}: run \`bluegreen contract PLAN\``,
  }
}
