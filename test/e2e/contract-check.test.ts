/**
 * Issue 18, contract reminders end to end: real PostgreSQL, the local stack, a real webhook
 * receiver on 127.0.0.1 and the built CLI. `contract --check` goes waiting → due → overdue with
 * its exit codes (0, 10, 11) and tells the receiver contract.due and contract.overdue once each.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { bluegreen, startE2eStack, type E2eStack } from '../support/e2e.js'
import { ndjson, writeNotifyPlan, type NotifyPlan } from '../support/notify-plan.js'
import { startReceiver, type Receiver } from '../notify/receiver.js'

let stack: E2eStack | undefined
let receiver: Receiver | undefined
let plan: NotifyPlan | undefined
afterEach(async () => {
  await stack?.close()
  await receiver?.close()
  plan?.remove()
  stack = receiver = plan = undefined
})

interface CheckResult {
  state: string
  contracts: { version: string; state: string; waitingFor?: string; dueMs?: number }[]
  notified: { event: string }[]
}

const events = (r: Receiver) => r.requests.map((q) => (JSON.parse(q.body) as { event: string }).event)

describe('contract --check', () => {
  it('goes from waiting to due to overdue, reminding once each', async () => {
    stack = await startE2eStack()
    receiver = await startReceiver()
    plan = writeNotifyPlan({
      contract: 'notBefore: 1s, remindAfter: 3s',
      notify: [
        {
          url: `${receiver.url}/hooks/contracts`,
          format: 'json',
          events: ['contract.due', 'contract.overdue', 'contract.applied'],
          timeout: '2s',
        },
      ],
    })
    const env = stack.cliEnv
    const check = async () => {
      const run = await bluegreen(['contract', plan!.file, '--check', '--json'], env)
      const result = ndjson(run.stdout).at(-1) as unknown as CheckResult
      return { code: run.code, result, stderr: run.stderr }
    }

    // Given a release whose contract is pending, with nothing pending before it
    expect((await check()).code).toBe(0)
    const released = await bluegreen(['release', plan.file, '--version', '2.0.0', '--yes'], env)
    expect(released.code, released.stderr).toBe(0)

    // While the standby still runs 1.0.0, the contract waits for it (exit 0), and says so
    const waiting = await check()
    expect(waiting.code).toBe(0)
    expect(waiting.result.state).toBe('waiting')
    expect(waiting.result.contracts[0].waitingFor).toMatch(/the standby pool blue .*is a rollback target/)
    const status = await bluegreen(['status', plan.file], env)
    expect(status.stdout).toMatch(
      /pending contract: 2\.0\.0 .* waiting, pending [\d.]+m?s: the standby pool blue/,
    )

    // When the standby is retired, the contract is due (exit 10): told once
    const retired = await bluegreen(['retire', plan.file, '--yes'], env)
    expect(retired.code, retired.stderr).toBe(0)
    const due = await check()
    expect(due.code, due.stderr).toBe(10)
    expect(due.result.state).toBe('due')
    expect(due.result.notified.map((n) => n.event)).toEqual(['contract.due'])
    expect(events(receiver)).toEqual(['contract.due'])

    // Once due longer than remindAfter (3s), it is overdue (exit 11): told once
    await new Promise((r) => setTimeout(r, 3500))
    const overdue = await check()
    expect(overdue.code, overdue.stderr).toBe(11)
    expect(overdue.result.contracts[0].state).toBe('overdue')
    expect(overdue.result.notified.map((n) => n.event)).toEqual(['contract.overdue'])
    const text = await bluegreen(['contract', plan.file, '--check'], env)
    expect(text.code).toBe(11)
    expect(text.stdout).toMatch(/pending contract: 2\.0\.0 .* OVERDUE, due for [\d.]+s \(since /)
    expect(events(receiver)).toEqual(['contract.due', 'contract.overdue'])
    // Repeated checks remind of nothing again; status --json says the same
    const overdueAgain = await check()
    expect(overdueAgain.code).toBe(11)
    expect(overdueAgain.result.notified).toEqual([])
    expect(events(receiver)).toEqual(['contract.due', 'contract.overdue'])
    const statusJson = ndjson((await bluegreen(['status', plan.file, '--json'], env)).stdout).at(-1) as {
      pendingContracts: { state: string; dueSince: string; dueMs: number }[]
    }
    expect(statusJson.pendingContracts[0]).toMatchObject({ state: 'overdue', dueSince: expect.any(String) })
    expect(statusJson.pendingContracts[0].dueMs).toBeGreaterThan(3000)
    const overdueBody = JSON.parse(receiver.requests[1].body) as Record<string, unknown>
    expect(overdueBody).toMatchObject({ event: 'contract.overdue', app: 'shop', version: '2.0.0' })
    expect(overdueBody.files).toEqual(expect.arrayContaining([expect.stringMatching(/\.sql$/)]))

    // A dry run lists what would run and its checks, and runs nothing
    const dry = await bluegreen(['contract', plan.file, '--dry-run'], env)
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(/would run\s+2\.0\.0: .*\.sql/)
    expect(dry.stdout).toMatch(/check: backfill of profiles \(.*\): no row matches first_name IS NULL/)
    expect((await check()).code).toBe(11)

    // Running it applies it: told (contract.applied), in history with who ran it, and nothing due
    const ran = await bluegreen(['contract', plan.file, '--yes'], { ...env, BLUEGREEN_ACTOR: 'carol' })
    expect(ran.code, ran.stderr).toBe(0)
    expect(events(receiver)).toEqual(['contract.due', 'contract.overdue', 'contract.applied'])
    const after = await check()
    expect(after.code).toBe(0)
    expect(after.result.contracts).toEqual([])
    const history = await bluegreen(['history', plan.file], env)
    expect(history.stdout).toMatch(/contract\s+carol\s+ran 2\.0\.0's contract: .*\.sql/)
    expect(history.stdout).toMatch(/retire\s+\S+\s+blue.* is no longer a rollback target/)
  }, 120_000)
})
