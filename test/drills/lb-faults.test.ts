/**
 * Drill 2 (issue 8): the load balancer's API fails — 5xx, throttling, slow answers, refusals —
 * during a release and during a rollback. Through the real AWS SDK against the ELBv2 emulator,
 * which queues the faults. Either the command succeeds (the SDK's retries absorb the faults) or it
 * fails with an actionable error and the exit code DESIGN.md gives; and the listener is only
 * ever at a split somebody asked for: blue 100, the plan's steps, green 100 — never in between.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { FaultInput } from '../../src/local/alb/index.js'
import { builtCliEnv, emulatorWeightLog, type WeightLog } from '../support/crash-walk.js'
import { bluegreen, e2ePlan, productionPool, sql, startE2eStack, type E2eStack } from '../support/e2e.js'
import { expectActionable } from './actionable.js'

const release = ['release', e2ePlan, '--version', '2.0.0', '--yes']
const rollback = ['rollback', '--plan', e2ePlan, '--yes']

let stack: E2eStack | undefined
afterEach(async () => {
  await stack?.close()
  stack = undefined
})

async function startStack(): Promise<{ stack: E2eStack; weights: WeightLog }> {
  stack = await startE2eStack()
  return { stack, weights: emulatorWeightLog(stack) }
}

const env = (stack: E2eStack) => ({ ...stack.cliEnv, ...builtCliEnv })

/** Green's share in each distinct state the listener went through. */
const greenShares = (weights: WeightLog): number[] => weights.states().map((w) => w.green)

/** Queues `faults` the moment the listener first reaches `green` percent for green. */
function whenGreenReaches(stack: E2eStack, green: number, faults: FaultInput[]): void {
  const listener = stack.emulator.state.listeners[0]
  const greenArn = stack.emulator.targetGroups.find((tg) => tg.name === 'shop-green')!.arn
  let queued = false
  stack.emulator.state.subscribe(() => {
    const config = listener.defaultActions.find((a) => a.Type === 'forward')?.ForwardConfig as
      { TargetGroups?: { TargetGroupArn?: string; Weight?: string }[] } | undefined
    const weight = Number(config?.TargetGroups?.find((t) => t.TargetGroupArn === greenArn)?.Weight ?? 0)
    if (queued || weight !== green) return
    queued = true
    for (const fault of faults) stack.emulator.injectFault(fault)
  })
}

/** Faults still queued in the emulator: none once every one has hit an API call. */
async function queuedFaults(stack: E2eStack): Promise<unknown[]> {
  const response = await fetch(`${stack.emulator.apiUrl}/_emulator/faults`)
  return ((await response.json()) as { queued: unknown[] }).queued
}

async function releaseStatus(stack: E2eStack): Promise<string[]> {
  const rows = await sql<{ status: string }>(
    stack.databaseUrl,
    'SELECT status FROM bluegreen.releases ORDER BY seq',
  )
  return rows.map((r) => r.status)
}

describe('drill: the load balancer API fails during a release', () => {
  it('absorbs 5xx, throttling and slow answers on every call the release makes (exit 0)', async () => {
    // Given faults queued for the reads, the writes and the health calls, and more at 50%
    const { stack, weights } = await startStack()
    const faults: FaultInput[] = [
      { mode: 'throttle', count: 2, actions: ['DescribeListeners'] },
      { mode: '5xx', count: 2, actions: ['ModifyListener'] },
      { mode: 'slow', count: 2, delayMs: 1500, actions: ['DescribeTargetHealth'] },
      { mode: '5xx', count: 1, actions: ['DescribeTargetGroups'] },
    ]
    for (const fault of faults) stack.emulator.injectFault(fault)
    whenGreenReaches(stack, 50, [
      { mode: 'throttle', count: 2, actions: ['ModifyListener'] },
      { mode: 'slow', count: 1, delayMs: 1500, actions: ['ModifyListener'] },
    ])

    // When 2.0.0 is released
    const run = await bluegreen(release, env(stack))

    // Then the retries absorbed every fault, and each asked split was made exactly once
    expect(run.code, run.stderr).toBe(0)
    expect(await queuedFaults(stack)).toEqual([])
    expect(greenShares(weights)).toEqual([0, 50, 100])
    expect(weights.writes()).toBe(2)
    expect(await productionPool(stack)).toBe('green')
    expect(await releaseStatus(stack)).toEqual(['done'])
  })

  it('refused writes (AccessDenied) stop the release before the switch: exit 1, listener untouched', async () => {
    // Given the credentials may read the listener but not change it
    const { stack, weights } = await startStack()
    stack.emulator.injectFault({ mode: 'denied', count: 100, actions: ['ModifyListener'] })

    // When 2.0.0 is released
    const run = await bluegreen(release, env(stack))

    // Then it fails at the first shift, saying which permission is missing, and no user saw 2.0.0
    expect(run.code, run.stderr).toBe(1)
    expectActionable(run.stderr, 'LB_ACCESS_DENIED')
    expect(run.stderr).toContain('elasticloadbalancing:ModifyListener')
    expect(greenShares(weights)).toEqual([0])
    expect(await productionPool(stack)).toBe('blue')
    expect(await releaseStatus(stack)).toEqual(['failed'])
  })

  it('throttling that outlasts the retries stops the release before the switch: exit 1', async () => {
    // Given every ModifyListener is throttled
    const { stack, weights } = await startStack()
    stack.emulator.injectFault({ mode: 'throttle', count: 1000, actions: ['ModifyListener'] })

    // When 2.0.0 is released
    const run = await bluegreen(release, env(stack))

    // Then
    expect(run.code, run.stderr).toBe(1)
    expectActionable(run.stderr, 'LB_THROTTLED')
    expect(greenShares(weights)).toEqual([0])
    expect(await productionPool(stack)).toBe('blue')
  })

  it('a second shift that keeps failing after 50% is rolled back automatically (exit 3)', async () => {
    // Given the shift to 100% fails with 5xx on every attempt the SDK makes, and then recovers
    const { stack, weights } = await startStack()
    whenGreenReaches(stack, 50, [{ mode: '5xx', count: 5, actions: ['ModifyListener'] }])

    // When 2.0.0 is released
    const run = await bluegreen(release, env(stack))

    // Then traffic went back to blue in one write: 50% → blue 100, nothing in between
    expect(await queuedFaults(stack)).toEqual([])
    expect(run.code, run.stderr + run.stdout).toBe(3)
    expectActionable(run.stderr, 'ROLLED_BACK')
    expect(greenShares(weights)).toEqual([0, 50, 0])
    expect(await productionPool(stack)).toBe('blue')
    expect(await releaseStatus(stack)).toEqual(['rolled_back'])
  })

  it('when the rollback cannot write either, says so (exit 5) and leaves the asked 50%; `rollback` finishes it', async () => {
    // Given every write fails from the moment 50% is reached
    const { stack, weights } = await startStack()
    whenGreenReaches(stack, 50, [{ mode: '5xx', count: 1000, actions: ['ModifyListener'] }])

    // When 2.0.0 is released
    const run = await bluegreen(release, env(stack))

    // Then it needs a human, names both failures, and the listener holds the last split it was given
    expect(run.code, run.stderr + run.stdout).toBe(5)
    expectActionable(run.stderr, 'ROLLBACK_FAILED')
    expect(run.stderr).toMatch(/automatic rollback to blue failed too/)
    expect(greenShares(weights)).toEqual([0, 50])

    // When the API recovers and the on-call engineer rolls back
    stack.emulator.clearFaults()
    const rolledBack = await bluegreen(rollback, env(stack))

    // Then production is on the standby pool again, in one write
    expect(rolledBack.code, rolledBack.stderr).toBe(0)
    expect(greenShares(weights)).toEqual([0, 50, 0])
    expect(await productionPool(stack)).toBe('blue')
  })
})

describe('drill: the load balancer API fails during a rollback', () => {
  it('absorbs 5xx, throttling and slow answers and ends on the standby pool (exit 0)', async () => {
    // Given 2.0.0 released to green, and faults queued on every call a rollback makes
    const { stack, weights } = await startStack()
    expect((await bluegreen(release, env(stack))).code).toBe(0)
    const faults: FaultInput[] = [
      { mode: 'throttle', count: 2, actions: ['DescribeListeners'] },
      { mode: '5xx', count: 2, actions: ['ModifyListener'] },
      { mode: 'slow', count: 1, delayMs: 1500, actions: ['ModifyListener'] },
      { mode: '5xx', count: 1, actions: ['DescribeTargetHealth'] },
      { mode: 'slow', count: 1, delayMs: 1500, actions: ['DescribeTargetGroups'] },
    ]
    for (const fault of faults) stack.emulator.injectFault(fault)

    // When it is rolled back
    const run = await bluegreen(rollback, env(stack))

    // Then blue is live again, switched once
    expect(run.code, run.stderr).toBe(0)
    expect(await queuedFaults(stack)).toEqual([])
    expect(greenShares(weights)).toEqual([0, 50, 100, 0])
    expect(await productionPool(stack)).toBe('blue')
  })

  it('a rollback whose writes keep failing needs a human (exit 5) and changes nothing', async () => {
    // Given 2.0.0 released to green, and every write failing
    const { stack, weights } = await startStack()
    expect((await bluegreen(release, env(stack))).code).toBe(0)
    stack.emulator.injectFault({ mode: '5xx', count: 1000, actions: ['ModifyListener'] })

    // When it is rolled back
    const run = await bluegreen(rollback, env(stack))

    // Then: exit 5 ("a rollback could not complete"), an actionable error, production still on green
    expect(run.code, run.stderr).toBe(5)
    expectActionable(run.stderr)
    expect(greenShares(weights)).toEqual([0, 50, 100])
    expect(await productionPool(stack)).toBe('green')
  })
})
