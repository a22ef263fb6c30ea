/**
 * Contract, made safe by construction. Release R's contract migrations remove what R−1 still
 * used, so they may run only once no pool can run anything older than R:
 *   - the live pool runs R or later, and
 *   - the standby pool runs R or later (the next release's deploy replaced it) or was retired;
 * and only when they are due (`notBefore`). A release that was rolled back never contracts.
 */
import { resolve } from 'node:path'
import { BluegreenError, isBluegreenError } from '../errors.js'
import { lostConnection, type Client } from '../db/client.js'
import { PostgresJournal } from '../db/journal-store.js'
import { parseDuration } from '../plan/duration.js'
import { databaseSettings } from '../phases/database.js'
import { pools as poolNames } from '../lb/types.js'
import { isKnownGood } from './standing.js'
import { phaseOf, type PhaseConfig } from '../plan/schema.js'
import type { EngineContext } from './context.js'
import type { Journal, ReleaseRecord } from './journal.js'

export interface ContractDecision {
  release: string
  version: string
  files: string[]
  status: 'ran' | 'would run' | 'waiting' | 'applied'
  reason?: string
}

/** The journal's database connection, when the journal lives in PostgreSQL. */
export function journalConnection(journal: Journal): Client | undefined {
  return journal instanceof PostgresJournal ? journal.connection : undefined
}

function requireSql(ctx: Pick<EngineContext, 'journal'>): Client {
  const client = journalConnection(ctx.journal)
  if (!client) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: 'contract migrations need a database, and this plan has none',
      hint: 'add `database: { url: ... }` to the plan',
    })
  }
  return client
}

/** Records this release's own contract migrations as pending (idempotent). */
export async function recordOwnContract(
  ctx: EngineContext,
  release: ReleaseRecord,
  config: PhaseConfig<'contract'>,
): Promise<string[]> {
  const client = requireSql(ctx)
  const { listMigrations, appliedMigrations } = await import('../db/migrations.js')
  const { recordPendingContract } = await import('../db/contract-ledger.js')
  const dir = resolve(ctx.planDir, config.dir)
  const applied = new Set(
    (await appliedMigrations(client, ctx.plan.app)).filter((m) => m.phase === 'contract').map((m) => m.file),
  )
  const files = (await listMigrations(dir)).filter((m) => !applied.has(m.file))
  if (files.length === 0) return []
  await recordPendingContract(client, {
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

/** Runs every pending contract that is safe and due; says why the others wait. */
export async function runDueContracts(
  ctx: EngineContext,
  options: {
    dryRun: boolean
    /** Asked before each release's contract runs, with what it removes; throws to refuse. */
    confirm?: (question: string) => Promise<void>
  },
): Promise<ContractDecision[]> {
  const client = requireSql(ctx)
  const { pendingContracts, markContractApplied } = await import('../db/contract-ledger.js')
  const { applyMigrations } = await import('../db/migrations.js')
  const { plan, journal, lb } = ctx
  const traffic = await lb.traffic()
  const pools = await journal.pools(plan.app)
  // What a possible rollback target or the live traffic still runs: pools that get traffic now,
  // and the known-good ones (live, standby). Candidates, rolled-back and retired pools are no
  // rollback target, so what only they need may go.
  const needed = poolNames.filter((pool) => traffic.weights[pool] > 0 || isKnownGood(pools[pool]))
  const decisions: ContractDecision[] = []
  for (const pending of (await pendingContracts(client, plan.app)).sort(
    (a, b) => a.releaseSeq - b.releaseSeq,
  )) {
    const base = {
      release: pending.release,
      version: pending.version,
      files: pending.files.map((f) => f.file),
    }
    const wait = (reason: string) => {
      decisions.push({ ...base, status: 'waiting', reason })
      ctx.emit({ type: 'contract.wait', release: pending.release, version: pending.version, reason })
    }
    const older = needed.find((pool) => (pools[pool]?.releaseSeq ?? 0) < pending.releaseSeq)
    if (older) {
      const record = pools[older]
      wait(
        traffic.weights[older] > 0
          ? `${older} gets traffic and runs ${record?.version ?? 'an older version'}, which still needs what it removes`
          : `the standby pool ${older} (${record?.version ?? 'the previous version'}) is a rollback target that still needs what it removes; it becomes safe after the next release's deploy or \`bluegreen retire\``,
      )
      continue
    }
    if (pending.notBefore.getTime() > Date.now()) {
      wait(`not due before ${pending.notBefore.toISOString()}`)
      continue
    }
    if (options.dryRun) {
      decisions.push({ ...base, status: 'would run' })
      continue
    }
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
      })
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
    await markContractApplied(client, { app: plan.app, release: pending.release })
    // history shows contract runs: what ran, for which release, and who ran it.
    await journal
      .audit({
        app: plan.app,
        action: 'contract',
        actor: ctx.actor,
        detail: `ran ${pending.version}'s contract: ${base.files.join(', ')}`,
      })
      .catch(() => {})
    decisions.push({ ...base, status: 'ran' })
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

/** A rolled-back release must never contract: what it would remove is in use again. */
export async function cancelPendingContract(
  journal: Journal,
  app: string,
  release: ReleaseRecord,
): Promise<void> {
  const client = journalConnection(journal)
  if (!client) return
  const { cancelPendingContract: cancel } = await import('../db/contract-ledger.js')
  await cancel(client, { app, release: release.id })
}

/** Contract migrations already applied by releases newer than `seq`: they make `seq` schema-incompatible. */
export async function appliedContractsAfter(
  ctx: Pick<EngineContext, 'journal' | 'plan'>,
  seq: number,
): Promise<{ version: string; files: string[] }[]> {
  const client = journalConnection(ctx.journal)
  if (!client) return []
  const { appliedContracts } = await import('../db/contract-ledger.js')
  return (await appliedContracts(client, ctx.plan.app))
    .filter((c) => c.releaseSeq > seq)
    .map((c) => ({ version: c.version, files: c.files.map((f) => f.file) }))
}

/** The contract phase config of a plan, if it has one. */
export function contractConfig(ctx: Pick<EngineContext, 'plan'>): PhaseConfig<'contract'> | undefined {
  return ctx.plan.phases.map(phaseOf).find((p) => p.kind === 'contract')?.config as
    PhaseConfig<'contract'> | undefined
}

/** The plan's lock and statement timeouts, as the expand phase uses them. */
function migrationTimeouts(ctx: EngineContext) {
  const { lockTimeoutMs, statementTimeoutMs, attempts } = databaseSettings(ctx.plan, 'contract')
  return { lockTimeoutMs, statementTimeoutMs, attempts }
}
