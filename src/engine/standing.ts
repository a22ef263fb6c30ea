/**
 * Pools that know what they run. The load balancer says where traffic goes; only the journal
 * knows which pool holds a version known to be good. Every standing change goes through the
 * functions here, and every command that decides (rollback, release, contract, status) decides
 * from them:
 *
 *   release starts          from: live (recorded if the journal had no record of it)
 *   deploy/switch begins    to: candidate (before the pool is touched: a crash leaves no
 *                           "standby" that was half replaced)
 *   verify passed (standby  to: live; from: standby, with the plan's window
 *   phase, or the end)
 *   rollback                to: live; from: rolled back (never a target again)
 *   retire                  the standby: retired
 *
 * The decision a rollback makes is a pure function of the traffic, the standings and the
 * unfinished release (decideRollback), so a model can check it step by step.
 */
import { otherPool, type PoolName, type Traffic } from '../lb/types.js'
import {
  isKnownGood,
  type PoolRecord,
  type Pools,
  type ReleaseRecord,
  type Standing,
} from '../journal/journal.js'

export { isKnownGood, type Pools }

function at(pool: PoolName, from: PoolRecord | undefined, standing: Standing, now: Date): PoolRecord {
  return {
    pool,
    version: from?.version,
    releaseSeq: from?.releaseSeq ?? 0,
    releaseId: from?.releaseId,
    standing,
    since: now.toISOString(),
  }
}

/** The first release: the live pool as it was before bluegreen (release 0). */
export function recordedLive(pool: PoolName, version: string | undefined, now = new Date()): PoolRecord {
  return { pool, version, releaseSeq: 0, standing: 'live', since: now.toISOString() }
}

/** The pool a release is about to replace: from now on it holds an unproven build. */
export function asCandidate(release: ReleaseRecord, now = new Date()): PoolRecord {
  return {
    pool: release.to,
    version: release.version,
    releaseSeq: release.seq,
    releaseId: release.id,
    standing: 'candidate',
    since: now.toISOString(),
  }
}

/**
 * A release that served production and passed verify: its pool is live, and the pool it left
 * is the standby for `windowMs` (no window: until retired or replaced). A pool left that was
 * not known to be good (switched to by hand) is not made a rollback target.
 */
export function promoted(
  pools: Pools,
  release: ReleaseRecord,
  windowMs: number | undefined,
  now = new Date(),
): PoolRecord[] {
  const records: PoolRecord[] = []
  const current = pools[release.to]
  if (current?.standing !== 'live' || current.releaseId !== release.id)
    records.push({ ...asCandidate(release, now), standing: 'live' })
  const left = pools[release.from]
  // A standby nobody released (recorded before bluegreen's first release) gets its window once:
  // promoting again (a resume) must not move it.
  const unwindowed = left?.standing === 'standby' && left.releaseId === undefined && left.until === undefined
  if (left?.standing === 'live' || (unwindowed && windowMs !== undefined))
    records.push({
      ...at(release.from, left, 'standby', now),
      ...(windowMs === undefined ? {} : { until: new Date(now.getTime() + windowMs).toISOString() }),
    })
  return records
}

/** After a rollback from `from` to `to`: `to` is live, `from` is rolled back. */
export function rolledBack(pools: Pools, from: PoolName, to: PoolName, now = new Date()): PoolRecord[] {
  const records: PoolRecord[] = []
  if (pools[to]?.standing !== 'live') records.push(at(to, pools[to], 'live', now))
  const left = pools[from]
  if (left && left.standing !== 'rolled_back' && left.standing !== 'retired')
    records.push(at(from, left, 'rolled_back', now))
  else if (!left) records.push(at(from, undefined, 'rolled_back', now))
  return records
}

export function retiredRecord(record: PoolRecord, now = new Date()): PoolRecord {
  return at(record.pool, record, 'retired', now)
}

export type RollbackDecision =
  | {
      action: 'switch'
      from: PoolName
      to: PoolName
      /** The unfinished release this undoes, or the release that put `from` live. */
      undoes?: string
      warnings: string[]
    }
  /** Production already runs the known-good version: nothing changes (exit 0). */
  | { action: 'none'; live: PoolName; message: string }
  /** An unfinished release that never reached users: it is closed, nothing is switched (exit 0). */
  | { action: 'close'; live: PoolName; release: ReleaseRecord; message: string }
  /** No pool qualifies (exit 5). */
  | { action: 'refuse'; message: string; details: string[] }

export interface RollbackFacts {
  traffic: Traffic
  pools: Pools
  /** The release the journal has as unfinished, if any. */
  unfinished?: ReleaseRecord
  /** Releases by id, for the words (which step failed, when). */
  releases: Map<string, ReleaseRecord>
  force: boolean
  now?: Date
}

/**
 * Where a rollback goes: to the pool that holds the last known-good version and is not
 * retired — never to a candidate, a rolled-back or a failed release's pool. It never toggles:
 * once production is back on the known-good version, another rollback changes nothing.
 */
export function decideRollback(facts: RollbackFacts): RollbackDecision {
  const { traffic, pools, unfinished } = facts
  const now = facts.now ?? new Date()
  const live = traffic.live
  const say = (pool: PoolName) => describePool(pool, pools[pool], facts.releases, now)

  if (facts.force) {
    // During a split the release being undone says which pool was stable; else the other pool.
    const to = traffic.split ? (unfinished?.from ?? bestGood(pools) ?? otherPool(live)) : otherPool(live)
    return {
      action: 'switch',
      from: otherPool(to),
      to,
      undoes: unfinished?.id ?? pools[otherPool(to)]?.releaseId,
      warnings: isKnownGood(pools[to])
        ? []
        : [`--force: switching production to ${to}, which is not a known-good pool (${say(to)})`],
    }
  }

  // An unfinished release that never moved traffic is closed: production stays where it is.
  if (unfinished && traffic.weights[unfinished.to] === 0) {
    return {
      action: 'close',
      live,
      release: unfinished,
      message: `release ${unfinished.version} never reached users (${live} is live${pools[live]?.version ? ` on ${pools[live]?.version}` : ''}); it is closed and nothing is switched`,
    }
  }

  if (traffic.split) {
    const good = (['blue', 'green'] as const).filter((p) => isKnownGood(pools[p]))
    const to =
      good.length === 1
        ? good[0]
        : unfinished && isKnownGood(pools[unfinished.from])
          ? unfinished.from
          : undefined
    if (to)
      return {
        action: 'switch',
        from: otherPool(to),
        to,
        undoes: unfinished?.id,
        warnings: windowWarnings(to, pools[to], now),
      }
    return {
      action: 'refuse',
      message: `traffic is split (blue ${traffic.weights.blue}% / green ${traffic.weights.green}%) and neither pool is known to be good: nothing to roll back to`,
      details: [say('blue'), say('green')],
    }
  }

  const other = otherPool(live)
  const target = pools[other]
  if (isKnownGood(target)) {
    return {
      action: 'switch',
      from: live,
      to: other,
      undoes: unfinished?.id ?? pools[live]?.releaseId,
      warnings: windowWarnings(other, target, now),
    }
  }
  if (isKnownGood(pools[live])) {
    if (target?.standing === 'rolled_back') {
      return {
        action: 'none',
        live,
        message: `production already runs the known-good version: ${live}${pools[live]?.version ? ` (${pools[live]?.version})` : ''} is live, and ${say(other)}; nothing to roll back (putting it back live is a release: \`bluegreen release PLAN --version ${target.version ?? 'V'}\`)`,
      }
    }
  }
  const liveWords = isKnownGood(pools[live])
    ? `${live} is live on ${pools[live]?.version ?? 'the version it ran before bluegreen'}, the last good release`
    : `${live} gets the traffic: ${say(live)}`
  return {
    action: 'refuse',
    message: `${other} ${runsWords(target, facts.releases, now)}; ${liveWords}: nothing to roll back to`,
    details: [say(live), say(other)],
  }
}

function bestGood(pools: Pools): PoolName | undefined {
  return (['blue', 'green'] as const).find((p) => pools[p]?.standing === 'live')
}

function windowWarnings(pool: PoolName, record: PoolRecord | undefined, now: Date): string[] {
  if (record?.standing !== 'standby' || !record.until) return []
  const left = Date.parse(record.until) - now.getTime()
  if (left > 0) return []
  return [
    `${pool}'s standby window ended ${ago(-left)} ago (${clock(record.until)}); rolling back to it anyway — check that it still runs ${record.version ?? 'its version'} and fits the schema`,
  ]
}

/** "runs 5.0.0-bad, which failed smoke at 12:03 UTC" — what a pool holds and why it is (not) a target. */
function runsWords(record: PoolRecord | undefined, releases: Map<string, ReleaseRecord>, now: Date): string {
  if (!record) return 'has no record in the journal (bluegreen never released to it)'
  const version = record.version ?? 'a version bluegreen did not record'
  const release = record.releaseId ? releases.get(record.releaseId) : undefined
  switch (record.standing) {
    case 'live':
      return `runs ${version} (live since ${clock(record.since)})`
    case 'standby':
      return `runs ${version}, the standby${record.until ? (Date.parse(record.until) > now.getTime() ? ` until ${clock(record.until)}` : ` (window expired ${ago(now.getTime() - Date.parse(record.until))} ago)`) : ''}`
    case 'candidate':
      return `runs ${version}, ${candidateWords(release)}`
    case 'rolled_back':
      return `runs ${version}, which was rolled back at ${clock(record.since)}${release?.rollback === 'automatic' ? ' (automatically)' : ''}`
    case 'retired':
      return `runs ${version}, retired at ${clock(record.since)} (contracts may have removed what it needs)`
  }
}

function candidateWords(release: ReleaseRecord | undefined): string {
  if (!release) return 'deployed by a release that was not promoted'
  if (release.status === 'failed')
    return `which failed ${release.failedStep?.kind ?? 'its release'}${release.finishedAt ? ` at ${clock(release.finishedAt)}` : ''}`
  if (release.status === 'running') return 'whose release is unfinished (running or interrupted)'
  if (release.status === 'rolled_back') return 'whose release was abandoned before it reached users'
  return 'released without a switch (it never served production)'
}

/** One line per pool, as status and refusals show it: "green: candidate: runs 5.0.0-bad, which failed smoke at 12:03 UTC". */
export function describePool(
  pool: PoolName,
  record: PoolRecord | undefined,
  releases: Map<string, ReleaseRecord>,
  now = new Date(),
): string {
  const standing = record ? record.standing.replace('_', ' ') : 'unknown'
  return `${pool}: ${standing}: ${runsWords(record, releases, now)}`
}

export function clock(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`
}

function ago(ms: number): string {
  const minutes = Math.round(ms / 60_000)
  if (minutes < 1) return `${Math.max(0, Math.round(ms / 1000))} s`
  if (minutes < 120) return `${minutes} min`
  const hours = Math.round(minutes / 60)
  return hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} d`
}
