/** The pure classification of a pending contract: waiting, due or overdue (issue 18). */
import { describe, expect, it } from 'vitest'
import type { PendingContract } from '../../src/journal/contract-ledger.js'
import type { Pools } from '../../src/journal/journal.js'
import { classifyContract, remindAfterMs, type ContractFacts } from '../../src/phases/contract-run.js'

const t0 = Date.parse('2026-01-01T00:00:00Z')
const day = 86_400_000
const at = (ms: number) => new Date(t0 + ms)

function pending(overrides: Partial<PendingContract> = {}): PendingContract {
  return {
    app: 'shop',
    release: 'r2',
    version: '2.0.0',
    releaseSeq: 2,
    dir: '/m/contract',
    files: [{ file: '0001_drop.sql', checksum: 'x' }],
    notBefore: at(14 * day),
    syncs: [],
    backfills: [],
    recordedAt: at(0),
    due: false,
    ...overrides,
  }
}

/** 2.0.0 (seq 2) live on green; blue as given. */
function facts(blue: Pools['blue'], nowMs: number, remindAfterMs = 28 * day): ContractFacts {
  return {
    traffic: { weights: { blue: 0, green: 100 } },
    pools: {
      green: { pool: 'green', version: '2.0.0', releaseSeq: 2, standing: 'live', since: at(0).toISOString() },
      ...(blue ? { blue } : {}),
    },
    now: at(nowMs),
    remindAfterMs,
  }
}

const standby = {
  pool: 'blue' as const,
  version: '1.0.0',
  releaseSeq: 1,
  standing: 'standby' as const,
  since: at(0).toISOString(),
}
const retired = (sinceMs: number) => ({
  ...standby,
  standing: 'retired' as const,
  since: at(sinceMs).toISOString(),
})

describe('classifyContract', () => {
  it('waits while the standby runs an older release, however late it is', () => {
    const s = classifyContract(pending(), facts(standby, 60 * day))
    expect(s.state).toBe('waiting')
    expect(s.reason).toMatch(/standby pool blue \(1\.0\.0\) is a rollback target/)
    expect(s.ageMs).toBe(60 * day)
  })

  it('waits while an older pool still gets traffic, even when not known-good', () => {
    const f = facts({ ...standby, standing: 'candidate' }, 60 * day)
    f.traffic = { weights: { blue: 10, green: 90 } }
    expect(classifyContract(pending(), f).reason).toMatch(/blue gets traffic and runs 1\.0\.0/)
  })

  it('waits for notBefore once nothing holds it back', () => {
    const s = classifyContract(pending(), facts(retired(day), 10 * day))
    expect(s).toMatchObject({ state: 'waiting', reason: `not due before ${at(14 * day).toISOString()}` })
  })

  it('is due from notBefore, overdue once due longer than remindAfter', () => {
    const due = classifyContract(pending(), facts(retired(day), 20 * day))
    expect(due).toMatchObject({ state: 'due', dueSince: at(14 * day), dueMs: 6 * day })
    const edge = classifyContract(pending(), facts(retired(day), 42 * day))
    expect(edge.state).toBe('due')
    const overdue = classifyContract(pending(), facts(retired(day), 42 * day + 1))
    expect(overdue).toMatchObject({ state: 'overdue', dueMs: 28 * day + 1 })
  })

  it('counts from when the standby that held it back was retired, not from notBefore', () => {
    const s = classifyContract(pending(), facts(retired(50 * day), 60 * day))
    expect(s).toMatchObject({ state: 'due', dueSince: at(50 * day), dueMs: 10 * day })
  })

  it('reads remindAfter from the plan’s contract step, 28 days without one', () => {
    const plan = (phases: object[]) => ({ phases }) as unknown as Parameters<typeof remindAfterMs>[0]
    expect(remindAfterMs(plan([{ deploy: {} }, { contract: { dir: 'c', remindAfter: '3s' } }]))).toBe(3000)
    expect(remindAfterMs(plan([{ deploy: {} }]))).toBe(28 * day)
  })
})
