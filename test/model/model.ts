/**
 * The oracle for the sequence tests: a small pure model of two pools, releases, rollbacks and
 * contracts, written from DESIGN.md's rules (not from the engine's code). Each operation says
 * what the real system must answer (its exit code) and how the state moves on. Where the real
 * timing decides (an interrupt, a lock cut at a random moment), the operation takes how far the
 * real release got as its input, and predicts everything after it.
 */
export type Pool = 'blue' | 'green'
export type Standing = 'live' | 'standby' | 'candidate' | 'rolled_back' | 'retired'

export interface ModelPool {
  version?: string
  standing: Standing
  seq: number
}

export interface ModelState {
  /** Where the load balancer sends traffic: weights in percent. */
  weights: Record<Pool, number>
  pools: Partial<Record<Pool, ModelPool>>
  unfinished?: { version: string; from: Pool; to: Pool; seq: number }
  seq: number
  /** Versions that failed a check or were rolled back: production must never end on one… */
  bad: Set<string>
  /** …unless --force put it there. */
  forced: boolean
  /** Contract seqs applied, as the real ledger says (observed). */
  applied: number[]
  /**
   * What each pool's servers really answer with: a verify failure is injected by deploying a
   * build that reports another version, so a pool can hold something other than its record.
   */
  served: Record<Pool, string>
}

export const other = (pool: Pool): Pool => (pool === 'blue' ? 'green' : 'blue')
export const liveOf = (state: ModelState): Pool =>
  state.weights.green > state.weights.blue ? 'green' : 'blue'
export const isSplit = (state: ModelState): boolean => state.weights.blue > 0 && state.weights.green > 0
const good = (pool: ModelPool | undefined) => pool?.standing === 'live' || pool?.standing === 'standby'
const all = (pool: Pool): Record<Pool, number> =>
  pool === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 }

export function initial(): ModelState {
  return {
    weights: { blue: 100, green: 0 },
    pools: {},
    seq: 0,
    bad: new Set(),
    forced: false,
    applied: [],
    served: { blue: initialVersion, green: initialVersion },
  }
}

export function clone(state: ModelState): ModelState {
  return {
    ...state,
    weights: { ...state.weights },
    pools: Object.fromEntries(Object.entries(state.pools).map(([k, v]) => [k, { ...v }])),
    unfinished: state.unfinished && { ...state.unfinished },
    bad: new Set(state.bad),
    applied: [...state.applied],
    served: { ...state.served },
  }
}

export type Fail = 'deploy' | 'smoke' | 'verify'

/** The build a verify failure deploys: it answers with this instead of its version. */
export const brokenBuild = 'broken-build'

/**
 * A rollback (or the automatic one) confirms production by the target's recorded version when
 * the target is known good: a pool that serves something else fails that confirmation.
 */
function confirms(state: ModelState, target: Pool): boolean {
  const record = state.pools[target]
  return !good(record) || !record?.version || state.served[target].includes(record.version)
}

/** The version the first release records for the pool that was live before bluegreen. */
export const initialVersion = '1.0.0'

/** What a release must answer, before it runs: a no-op, a refusal, or a run. */
export function releaseStart(
  state: ModelState,
  version: string,
  force: boolean,
): { code: number; runs: boolean } {
  if (state.unfinished) return { code: 4, runs: false }
  if (isSplit(state)) return { code: 5, runs: false }
  // The first release records what the live pool ran before bluegreen (--live-version), no-op or not.
  const live = (state.pools[liveOf(state)] ??= { version: initialVersion, standing: 'live', seq: 0 })
  if (live.standing === 'live' && live.version === version && !force) return { code: 0, runs: false }
  return { code: -1, runs: true }
}

/** The state once a release starts: the first one records the live pool (release 0). */
function begin(state: ModelState): { to: Pool; from: Pool; seq: number } {
  const from = liveOf(state)
  state.pools[from] ??= { version: initialVersion, standing: 'live', seq: 0 }
  state.seq += 1
  return { from, to: other(from), seq: state.seq }
}

function promote(state: ModelState, version: string, from: Pool, to: Pool, seq: number): void {
  state.pools[to] = { version, standing: 'live', seq }
  const left = state.pools[from]
  if (left?.standing === 'live') left.standing = 'standby'
  state.weights = all(to)
}

/** A release that runs to its end (or fails where `fail` says). */
export function release(state: ModelState, version: string, fail: Fail | undefined): number {
  const { from, to, seq } = begin(state)
  if (!fail) {
    state.served[to] = version
    promote(state, version, from, to, seq)
    return 0
  }
  state.bad.add(version)
  if (fail === 'verify') {
    // Switched, failed verify, switched back by itself: the pool it left is rolled back. The
    // switch back is recorded before it is confirmed; a pool that does not answer as recorded
    // fails the confirmation (exit 5).
    state.served[to] = brokenBuild
    state.pools[to] = { version, standing: 'rolled_back', seq }
    state.weights = all(from)
    return confirms(state, from) ? 3 : 5
  }
  if (fail === 'smoke') state.served[to] = version
  state.pools[to] = { version, standing: 'candidate', seq }
  return 1
}

/**
 * A release stopped at a random moment (SIGINT, or its lock's connection cut): `reached` says
 * what the real one did — whether its deploy began, whether it was promoted (standby done),
 * and where the load balancer ended up.
 */
export function releaseStopped(
  state: ModelState,
  version: string,
  reached: {
    deployBegan: boolean
    promoted: boolean
    finished: boolean
    weights: Record<Pool, number>
    served: Record<Pool, string>
  },
  how: 'interrupt' | 'lock',
): number {
  const { from, to, seq } = begin(state)
  state.served = { ...reached.served }
  if (reached.finished) {
    promote(state, version, from, to, seq)
    return 0
  }
  if (reached.deployBegan) state.pools[to] = { version, standing: 'candidate', seq }
  if (reached.promoted) promote(state, version, from, to, seq)
  state.weights = { ...reached.weights }
  state.unfinished = { version, from, to, seq }
  if (how === 'lock') return 4
  return reached.weights[to] > 0 ? 5 : 1
}

export function resume(state: ModelState): number {
  const open = state.unfinished
  if (!open) return 2
  state.served[open.to] = open.version
  promote(state, open.version, open.from, open.to, open.seq)
  state.unfinished = undefined
  return 0
}

function switchTo(state: ModelState, target: Pool): void {
  const left = other(target)
  const leftPool = state.pools[left]
  if (leftPool?.version) state.bad.add(leftPool.version)
  if (!leftPool) state.pools[left] = { standing: 'rolled_back', seq: 0 }
  else if (leftPool.standing !== 'rolled_back' && leftPool.standing !== 'retired')
    leftPool.standing = 'rolled_back'
  const targetPool = state.pools[target]
  if (targetPool) targetPool.standing = 'live'
  else state.pools[target] = { standing: 'live', seq: 0 }
  state.weights = all(target)
  state.unfinished = undefined
}

/** `bluegreen rollback` (or `--force`): exit code, and the state after it. */
export function rollback(state: ModelState, force: boolean): number {
  const live = liveOf(state)
  if (force) {
    const target = isSplit(state)
      ? (state.unfinished?.from ??
        (['blue', 'green'] as const).find((p) => state.pools[p]?.standing === 'live') ??
        other(live))
      : other(live)
    if (!good(state.pools[target])) state.forced = true
    switchTo(state, target)
    return 0
  }
  let target: Pool | undefined
  if (state.unfinished && state.weights[state.unfinished.to] === 0) {
    // An unfinished release that never reached users: closed, nothing switched.
    state.unfinished = undefined
    return 0
  }
  if (isSplit(state)) {
    const known = (['blue', 'green'] as const).filter((p) => good(state.pools[p]))
    target =
      known.length === 1
        ? known[0]
        : state.unfinished && good(state.pools[state.unfinished.from])
          ? state.unfinished.from
          : undefined
    if (!target) return 5
  } else if (good(state.pools[other(live)])) target = other(live)
  else if (good(state.pools[live]) && state.pools[other(live)]?.standing === 'rolled_back') return 0
  else return 5
  // Schema-safe only: no contract newer than the target's release may have run.
  const targetSeq = state.pools[target]?.seq ?? 0
  if (state.applied.some((seq) => seq > targetSeq)) return 5
  const confirmed = confirms(state, target)
  switchTo(state, target)
  return confirmed ? 0 : 5
}

export function retire(state: ModelState): number {
  if (isSplit(state)) return 1
  const pool = state.pools[other(liveOf(state))]
  if (pool?.standing === 'standby') pool.standing = 'retired'
  return 0
}

/**
 * The invariants that hold after every operation, whatever it was: returns what is wrong.
 * `applied` comes from the real ledger.
 */
export function violations(state: ModelState): string[] {
  const problems: string[] = []
  const live = liveOf(state)
  const version = state.pools[live]?.version
  if (!isSplit(state) && version && state.bad.has(version) && !state.forced)
    problems.push(
      `production runs ${version}, which failed a check or was rolled back, and no --force said so`,
    )
  for (const seq of state.applied) {
    for (const pool of ['blue', 'green'] as const) {
      const record = state.pools[pool]
      const needed = good(record) || state.weights[pool] > 0
      if (needed && (record?.seq ?? 0) < seq && !state.forced)
        problems.push(
          `contract ${seq} ran although ${pool} (seq ${record?.seq ?? 0}, ${record?.standing}) may still need it`,
        )
    }
  }
  return problems
}
