/**
 * When the database is down, a rollback still happens (it needs only the load balancer), and
 * its journal entry is kept in a local spool file. The next command that reaches the database
 * writes it, with its original time, before doing anything else.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { PoolName } from '../plan/schema.js'
import type { EngineContext } from './context.js'
import type { Journal } from './journal.js'

export interface RollbackEntry {
  from: PoolName
  to: PoolName
  version?: string
  ms: number
  reason: string
  automatic: boolean
  at: string
  releaseId?: string
}

export function spoolPath(app: string): string {
  const dir =
    process.env.BLUEGREEN_STATE_DIR ??
    join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'bluegreen')
  return join(dir, `${app}.spool.jsonl`)
}

export async function spoolRollback(app: string, actor: string, entry: RollbackEntry): Promise<void> {
  const path = spoolPath(app)
  mkdirSync(join(path, '..'), { recursive: true })
  appendFileSync(path, JSON.stringify({ kind: 'rollback', actor, entry }) + '\n', { mode: 0o600 })
}

/** Writes spooled entries to the real journal; called by every command that reaches the database. */
export async function flushSpool(
  ctx: Pick<EngineContext, 'journal' | 'journalOffline' | 'plan' | 'emit'>,
): Promise<number> {
  if (ctx.journalOffline) return 0
  const path = spoolPath(ctx.plan.app)
  let text: string
  try {
    // Renamed first, so that a concurrent flush cannot write the same entries twice.
    renameSync(path, `${path}.flushing`)
    text = readFileSync(`${path}.flushing`, 'utf8')
  } catch {
    return 0
  }
  const lines = text.split('\n').filter(Boolean)
  for (const line of lines) {
    const { actor, entry } = JSON.parse(line) as { actor: string; entry: RollbackEntry }
    await recordRollback(ctx.journal, ctx.plan.app, actor, entry)
  }
  rmSync(`${path}.flushing`, { force: true })
  if (lines.length > 0)
    ctx.emit({
      type: 'info',
      message: `wrote ${lines.length} journal entr${lines.length === 1 ? 'y' : 'ies'} kept while the database was unreachable`,
    })
  return lines.length
}

/** The journal side of a rollback: the undone release, the new standby, its contract, the audit log. */
export async function recordRollback(
  journal: Journal,
  app: string,
  actor: string,
  entry: RollbackEntry,
): Promise<void> {
  const unfinished = await journal.unfinishedRelease(app)
  const last = unfinished ?? (await journal.releases(app, 1))[0]
  const undone = entry.releaseId
    ? (await journal.releases(app, 50)).find((r) => r.id === entry.releaseId)
    : last
  if (undone && undone.to === entry.from && undone.status !== 'rolled_back') {
    await journal.finishRelease(undone.id, 'rolled_back', entry.reason)
    const { cancelPendingContract } = await import('./contract.js')
    await cancelPendingContract(journal, app, undone)
  }
  // The pool just left keeps the newer version: it becomes the standby (a roll-forward target).
  const left = (await journal.pools(app))[entry.from]
  await journal.setStandby(app, {
    pool: entry.from,
    version: left?.version,
    releaseSeq: left?.releaseSeq ?? 0,
    until: new Date(Date.parse(entry.at) + 24 * 3_600_000).toISOString(),
  })
  await journal.audit({
    app,
    at: entry.at,
    action: entry.automatic ? 'rollback.automatic' : 'rollback',
    actor,
    detail: `${entry.from} → ${entry.to}${entry.version ? ` (${entry.version})` : ''}, load balancer switched in ${entry.ms} ms: ${entry.reason}`,
  })
}
