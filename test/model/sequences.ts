/**
 * Sequences, not only examples (STYLE.md 10): seeded random sequences of releases (that
 * succeed, fail in deploy, smoke or verify, are interrupted or lose their lock at a random
 * moment), resumes, rollbacks (plain, again, forced), re-releases of the live version, retires
 * and contracts, run against the real stack and the pure model (model.ts) side by side. After
 * every operation: the exit code, what production answers, each pool's standing in `status`,
 * and the invariants. A failure prints its seed and a one-line replay.
 *
 * test/model/postgres.test.ts and file.test.ts run them in CI (100 sequences per journal, 10 of
 * them through the CLI); test/drills/sequences.test.ts runs many more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lastErrorMessage, startStack, type JournalKind, type Op, type Stack, type World } from './drivers.js'
import * as model from './model.js'

/** mulberry32: a small seeded generator, so a sequence replays exactly. */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function generate(seed: number, kind: JournalKind): Op[] {
  const next = random(seed)
  const length = 5 + Math.floor(next() * 6)
  let n = 2
  const ops: Op[] = []
  const weighted: [number, () => Op][] = [
    [30, () => ({ kind: 'release', version: `${n++}.0.0` })],
    [7, () => ({ kind: 'release', version: `${n++}.0.0`, fail: 'deploy' })],
    [7, () => ({ kind: 'release', version: `${n++}.0.0`, fail: 'smoke' })],
    [8, () => ({ kind: 'release', version: `${n++}.0.0`, fail: 'verify' })],
    [
      7,
      () => ({
        kind: 'release-stopped',
        version: `${n++}.0.0`,
        how: 'interrupt',
        afterMs: Math.floor(next() * 900),
      }),
    ],
    [
      6,
      () => ({
        kind: 'release-stopped',
        version: `${n++}.0.0`,
        how: 'lock',
        afterMs: Math.floor(next() * 900),
      }),
    ],
    [5, () => ({ kind: 'resume' })],
    [16, () => ({ kind: 'rollback', force: false })],
    [3, () => ({ kind: 'rollback', force: true })],
    [4, () => ({ kind: 'release', version: 'live' })],
    [4, () => ({ kind: 'retire' })],
    [kind === 'postgres' ? 3 : 0, () => ({ kind: 'contract' })],
  ]
  const total = weighted.reduce((sum, [w]) => sum + w, 0)
  for (let i = 0; i < length; i++) {
    let pick = next() * total
    const [, make] = weighted.find(([w]) => (pick -= w) < 0) ?? weighted[0]
    ops.push(make())
  }
  return ops
}

function describeOp(op: Op): string {
  switch (op.kind) {
    case 'release':
      return `release ${op.version}${op.fail ? ` (fails ${op.fail})` : ''}${op.force ? ' --force' : ''}`
    case 'release-stopped':
      return `release ${op.version} (${op.how === 'interrupt' ? (op.afterMs % 2 === 0 ? 'SIGINT' : 'SIGTERM through the CLI') : 'lock cut'} after ${op.afterMs} ms)`
    case 'rollback':
      return op.force ? 'rollback --force' : 'rollback'
    default:
      return op.kind
  }
}

/** Runs one sequence; throws with the seed, the steps so far and a replay line on the first difference. */
export async function runSequence(stack: Stack, seed: number, through: 'engine' | 'cli'): Promise<number> {
  const ops = generate(seed, stack.kind)
  const world = await stack.world(`m${through[0]}${seed}`, through)
  const state = model.initial()
  const seqOf = new Map<string, number>()
  const log: string[] = []
  const fail = (message: string): never => {
    throw new Error(
      `${message}\nseed ${seed} (${stack.kind}, ${through}); steps:\n  ${log.join('\n  ')}\nreplay: MODEL_SEED=${seed} MODEL_JOURNAL=${stack.kind} MODEL_THROUGH=${through} npx vitest run test/model/${stack.kind}.test.ts`,
    )
  }
  for (const op of ops) {
    const resolved: Op =
      op.kind === 'release' && op.version === 'live'
        ? { ...op, version: state.pools[model.liveOf(state)]?.version ?? model.initialVersion }
        : op
    const expectedBefore = model.clone(state)
    let expected: number
    const observed = await world.run(resolved)
    switch (resolved.kind) {
      case 'release': {
        const start = model.releaseStart(state, resolved.version, resolved.force ?? false)
        expected = start.runs ? model.release(state, resolved.version, resolved.fail) : start.code
        break
      }
      case 'release-stopped': {
        const start = model.releaseStart(state, resolved.version, false)
        expected =
          start.runs && observed.reached
            ? model.releaseStopped(state, resolved.version, observed.reached, resolved.how)
            : start.code
        // Killed by the signal after it had finished (Node's default action, once bluegreen's
        // handler is gone): the release is done, the exit is the signal's.
        if (observed.code === -1 && observed.reached?.finished) expected = -1
        break
      }
      case 'resume':
        expected = model.resume(state)
        break
      case 'rollback':
        expected = model.rollback(state, resolved.force)
        break
      case 'retire':
        expected = model.retire(state)
        break
      case 'contract':
        expected = 0
        break
    }
    const why = through === 'engine' && observed.code !== 0 ? lastErrorMessage() : undefined
    log.push(
      `${describeOp(resolved)} → exit ${observed.code} (model: ${expected})${why ? ` ${why.slice(-250)}` : ''}`,
    )
    if (observed.code !== expected) fail(`exit ${observed.code}, the model expected ${expected}`)
    await compare(world, state, seqOf, fail, expectedBefore)
  }
  return ops.length
}

async function compare(
  world: World,
  state: model.ModelState,
  seqOf: Map<string, number>,
  fail: (message: string) => never,
  before: model.ModelState,
): Promise<void> {
  const { status: report, latestRelease, applied } = await world.observe()
  // A release this operation started gets the model's sequence number.
  if (latestRelease && !seqOf.has(latestRelease)) seqOf.set(latestRelease, state.seq)
  const weights = report.traffic.weights
  if (weights.blue !== state.weights.blue || weights.green !== state.weights.green)
    fail(
      `the load balancer has blue ${weights.blue}% / green ${weights.green}%, the model blue ${state.weights.blue}% / green ${state.weights.green}%`,
    )
  if (!model.isSplit(state)) {
    const answered = await world.production()
    if (answered !== model.liveOf(state))
      fail(`production answered from ${answered}, the model says ${model.liveOf(state)}`)
  }
  for (const pool of report.pools) {
    const expected = state.pools[pool.pool]
    if (pool.standing !== expected?.standing)
      fail(
        `status has ${pool.pool} as ${pool.standing ?? 'unknown'}, the model as ${expected?.standing ?? 'unknown'} (${pool.words})`,
      )
    if (expected?.version && pool.version !== expected.version)
      fail(`status has ${pool.pool} on ${pool.version}, the model on ${expected.version}`)
  }
  if (Boolean(report.unfinished) !== Boolean(state.unfinished))
    fail(
      `status ${report.unfinished ? 'has' : 'has no'} unfinished release; the model ${state.unfinished ? 'has' : 'has none'}`,
    )
  state.applied = applied.map((id) => seqOf.get(id) ?? -1)
  const problems = model.violations(state)
  if (problems.length > 0)
    fail(`invariant broken: ${problems.join('; ')} (before: ${JSON.stringify(before.pools)})`)
}

const fixedSeed = process.env.MODEL_SEED ? Number(process.env.MODEL_SEED) : undefined

/**
 * The sequence tests for one journal: `engine` sequences in-process and `cli` through the built
 * CLI (MODEL_SEQUENCES and MODEL_CLI_SEQUENCES override; MODEL_SEED runs one seed).
 */
export function defineSequences(kind: JournalKind, defaults: { engine: number; cli: number }): void {
  const baseSeed = fixedSeed ?? Number(process.env.MODEL_BASE_SEED ?? 20261201)
  const only = process.env.MODEL_JOURNAL
  const through = process.env.MODEL_THROUGH
  const counts = {
    engine: fixedSeed ? 1 : Number(process.env.MODEL_SEQUENCES ?? defaults.engine),
    cli: fixedSeed ? 1 : Number(process.env.MODEL_CLI_SEQUENCES ?? defaults.cli),
  }
  describe.runIf(!only || only === kind)(`sequences on the ${kind} journal`, () => {
    let stack: Stack
    beforeAll(async () => {
      stack = await startStack(kind)
    })
    afterAll(async () => {
      await stack?.close()
    })
    for (const way of ['engine', 'cli'] as const) {
      it.runIf(!through || through === way)(
        `${counts[way]} seeded sequences through the ${way === 'engine' ? 'engine, in-process' : 'built CLI'} match the model`,
        async () => {
          let ops = 0
          const first = baseSeed + (way === 'cli' ? 100_000 : 0) + (kind === 'file' ? 50_000 : 0)
          const started = Date.now()
          for (let i = 0; i < counts[way]; i++) ops += await runSequence(stack, fixedSeed ?? first + i, way)
          console.log(
            `model (${kind}, ${way}): ${counts[way]} sequences, ${ops} operations in ${((Date.now() - started) / 1000).toFixed(1)} s, seeds ${fixedSeed ?? `${first}–${first + counts[way] - 1}`}`,
          )
          expect(ops).toBeGreaterThanOrEqual(counts[way] * 5)
        },
        1_200_000,
      )
    }
  })
}
