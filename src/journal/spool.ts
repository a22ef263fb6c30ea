/**
 * When the database does not answer, a rollback still happens (it needs only the load
 * balancer). Its intent is appended to a local spool file and fsynced before the switch, and
 * its completion after it; the next command that reaches the database writes both to the
 * journal, with their original times, before doing anything else.
 *
 * Beside the spool, a small cache of the pools' standings as this machine last read them from
 * the journal, so that an offline rollback still refuses a pool known to hold a failed build.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { PoolName } from '../pools.js'
import { redactJson } from '../redact.js'
import { writeFileAtomic } from './file.js'
import type { PoolRecord } from './journal.js'
import type { Pools } from './journal.js'

/** A rollback as the spool keeps it (the journal's RollbackRecord, less what the journal assigns). */
export interface SpooledRollback {
  id: string
  from: PoolName
  to: PoolName
  version?: string
  reason: string
  automatic: boolean
  forced: boolean
  actor: string
  startedAt: string
  releaseId?: string
}

type SpoolLine =
  | { kind: 'rollback.intent'; rollback: SpooledRollback }
  | { kind: 'rollback.done'; id: string; ms: number; at: string }

function stateDir(): string {
  return (
    process.env.BLUEGREEN_STATE_DIR ??
    join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'bluegreen')
  )
}

export function spoolPath(app: string): string {
  return join(stateDir(), `${app}.spool.jsonl`)
}

function cachePath(app: string): string {
  return join(stateDir(), `${app}.pools.json`)
}

/** Appends a line and fsyncs it: the record exists before the load balancer is touched. */
function appendDurably(path: string, line: SpoolLine): void {
  mkdirSync(dirname(path), { recursive: true })
  const fd = openSync(path, 'a', 0o600)
  try {
    // Reasons and actors come from errors and the environment: never a secret on disk.
    writeSync(fd, redactJson(line) + '\n')
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

export function spoolIntent(app: string, rollback: SpooledRollback): void {
  appendDurably(spoolPath(app), { kind: 'rollback.intent', rollback })
}

export function spoolDone(app: string, id: string, ms: number): void {
  appendDurably(spoolPath(app), { kind: 'rollback.done', id, ms, at: new Date().toISOString() })
}

export interface SpoolEntry {
  rollback: SpooledRollback
  done?: { ms: number; at: string }
}

function parse(text: string): SpoolEntry[] {
  const entries = new Map<string, SpoolEntry>()
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    let parsed: SpoolLine
    try {
      parsed = JSON.parse(line) as SpoolLine
    } catch {
      // A line cut short by a crash: everything before it stands.
      continue
    }
    if (parsed.kind === 'rollback.intent') entries.set(parsed.rollback.id, { rollback: parsed.rollback })
    else if (parsed.kind === 'rollback.done') {
      const entry = entries.get(parsed.id)
      if (entry) entry.done = { ms: parsed.ms, at: parsed.at }
    }
  }
  return [...entries.values()]
}

export function readSpool(app: string): SpoolEntry[] {
  try {
    return parse(readFileSync(spoolPath(app), 'utf8'))
  } catch {
    return []
  }
}

/**
 * Takes the spool for writing to the journal: renamed first, so that a concurrent flush cannot
 * write the same entries twice. `commit` removes it once written; if writing fails, `restore`
 * puts it back for the next command.
 */
export function takeSpool(
  app: string,
): { entries: SpoolEntry[]; commit(): void; restore(): void } | undefined {
  const path = spoolPath(app)
  const taken = `${path}.flushing`
  try {
    renameSync(path, taken)
  } catch {
    // Nothing spooled (or a flush in progress elsewhere): maybe one left by a flush that died.
  }
  let text: string
  try {
    text = readFileSync(taken, 'utf8')
  } catch {
    return undefined
  }
  return {
    entries: parse(text),
    commit: () => rmSync(taken, { force: true }),
    restore: () => {
      const rest = (() => {
        try {
          return readFileSync(path, 'utf8')
        } catch {
          return ''
        }
      })()
      writeFileAtomic(path, text + rest)
      rmSync(taken, { force: true })
    },
  }
}

/** Remembers the standings read from (or written to) the journal; never fails a command. */
export function rememberPools(app: string, pools: Pools): void {
  try {
    // A cache (what the journal last said), not a record: not worth an fsync before the switch.
    writeFileAtomic(cachePath(app), JSON.stringify({ at: new Date().toISOString(), pools }) + '\n', {
      durable: false,
    })
  } catch {
    // A read-only home directory: the offline rollback will say it could not check.
  }
}

export function rememberedPools(app: string): { at: string; pools: Pools } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(cachePath(app), 'utf8')) as { at: string; pools: Pools }
    return parsed.pools ? parsed : undefined
  } catch {
    return undefined
  }
}

/** Applies standing changes to the cached view (the offline rollback's own changes). */
export function rememberChanges(app: string, changes: PoolRecord[]): void {
  const cached = rememberedPools(app)?.pools ?? {}
  for (const change of changes) cached[change.pool] = change
  rememberPools(app, cached)
}
