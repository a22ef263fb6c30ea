/**
 * The approve phase's own rules: its defaults, how a gate's state follows from the release's
 * audit entries (pure), and what a plan may say around it (a switch may stop short before a
 * gate; the plan's last switch must reach 100).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { PlanError } from '../../src/format/issues.js'
import type { AuditEntry } from '../../src/journal/journal.js'
import { approvePhase, gateState } from '../../src/phases/approve.js'
import { loadPlan } from '../../src/plan/load.js'

const dir = mkdtempSync(join(tmpdir(), 'bluegreen-approve-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function load(phases: string) {
  const file = join(dir, `plan-${Math.random().toString(36).slice(2)}.yaml`)
  writeFileSync(
    file,
    `app: shop
version: 2.0.0
loadBalancer: { provider: haproxy, runtimeApi: 127.0.0.1:9999, backend: shop }
pools:
  blue: { servers: [blue1] }
  green: { servers: [green1] }
phases:
  - deploy: { run: [./deploy.sh, "{{pool}}"] }
${phases}`,
  )
  return loadPlan(file, { env: {} })
}

const entry = (action: string, at: string, step = 2, actor = 'alice'): AuditEntry => ({
  at,
  app: 'shop',
  action,
  actor,
  detail: '',
  releaseId: 'r1',
  step,
})

describe('approve phase', () => {
  it('defaults to a 24h timeout that rolls back', () => {
    expect(approvePhase.schema.parse({})).toEqual({ timeout: '24h', onTimeout: 'rollback' })
    expect(approvePhase.schema.safeParse({ onTimeout: 'forget' }).success).toBe(false)
  })

  it('reads a gate from the audit entries of its own step', () => {
    const config = { timeout: '4h', onTimeout: 'rollback' as const }
    const since = '2026-01-01T10:00:00.000Z'
    // Never reached: not waiting
    expect(gateState([], 2, config)).toEqual({ expired: false })
    // Waiting since 10:00: the deadline is 14:00, expired only from then on
    const waiting = [entry('approval.waiting', since), entry('approve', since, 5)]
    expect(gateState(waiting, 2, config, new Date('2026-01-01T13:59:59Z'))).toMatchObject({
      since,
      deadline: '2026-01-01T14:00:00.000Z',
      expired: false,
      approved: undefined,
    })
    expect(gateState(waiting, 2, config, new Date('2026-01-01T14:00:00Z')).expired).toBe(true)
    // Approved (in time): never expired, and it says by whom
    const approved = [...waiting, entry('approve', '2026-01-01T11:00:00.000Z', 2, 'bob')]
    const state = gateState(approved, 2, config, new Date('2026-01-02T00:00:00Z'))
    expect(state.expired).toBe(false)
    expect(state.approved?.actor).toBe('bob')
  })

  it('lets a switch stop short before a gate, but the plan’s last switch must reach 100', async () => {
    const { plan } = await load(`  - switch: { steps: [10] }
  - approve: { timeout: 4h, onTimeout: abandon }
  - switch: { steps: [50, 100] }
`)
    expect(plan.phases.map((p) => Object.keys(p)[0])).toEqual(['deploy', 'switch', 'approve', 'switch'])

    const error = await load(`  - switch: { steps: [10, 100] }
  - approve: {}
  - switch: { steps: [50] }
`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PlanError)
    expect((error as PlanError).issues[0]).toMatchObject({
      path: 'phases[3].switch.steps[0]',
      message: "the last step of the plan's last switch must be 100",
    })
  })

  it('describes itself for plan show', () => {
    const words = approvePhase.describe({ timeout: '4h', onTimeout: 'abandon' }, {} as never)
    expect(words.summary).toBe('wait for `bluegreen approve PLAN` (timeout 4h, then it is abandoned)')
    expect(words.durationMs).toBe(4 * 3_600_000)
  })
})
