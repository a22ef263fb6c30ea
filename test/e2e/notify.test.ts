/**
 * Issue 18, notifications end to end: the built CLI, real PostgreSQL, the local stack and real
 * webhook receivers on 127.0.0.1. A webhook that fails never fails a release; a rollback tells
 * its webhooks after the switch and switches as fast with a webhook that never answers.
 */
import { createServer } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { hostname } from 'node:os'
import { bluegreen, productionPool, sql, startE2eStack, type E2eStack } from '../support/e2e.js'
import { ndjson, writeNotifyPlan, type NotifyPlan } from '../support/notify-plan.js'
import { startReceiver, type Receiver } from '../notify/receiver.js'

let stack: E2eStack | undefined
const receivers: Receiver[] = []
const plans: NotifyPlan[] = []
afterEach(async () => {
  await stack?.close()
  stack = undefined
  for (const r of receivers.splice(0)) await r.close()
  for (const p of plans.splice(0)) p.remove()
})

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args)
  receivers.push(r)
  return r
}

function plan(options: Parameters<typeof writeNotifyPlan>[0]): string {
  const written = writeNotifyPlan(options)
  plans.push(written)
  return written.file
}

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

const bodies = (r: Receiver) => r.requests.map((q) => JSON.parse(q.body) as Record<string, unknown>)
const warnings = (events: Record<string, unknown>[]) =>
  events.filter((e) => e.type === 'warning').map((e) => String(e.message))
/** ms from the first event of `from` to the first of `to`, by the events' timestamps. */
function between(events: Record<string, unknown>[], from: string, to: string): number {
  const at = (type: string) => Date.parse(String(events.find((e) => e.type === type)?.at))
  return at(to) - at(from)
}

describe('notifications', () => {
  it('never fail a release: a webhook answering 500 and one nobody listens on are warnings', async () => {
    stack = await startE2eStack()
    const failing = await receiver({ status: 500, body: 'boom' })
    const port = await deadPort()
    const secret = 'XyZsecretToken123'
    const file = plan({
      notify: [
        {
          url: `${failing.url}/services/T0001/B0001/${secret}`,
          format: 'slack',
          events: ['release.started', 'release.done'],
          retries: 2,
          timeout: '1s',
        },
        { url: `http://127.0.0.1:${port}/hook`, format: 'json', events: ['release.done'], timeout: '1s' },
      ],
    })
    const run = await bluegreen(['release', file, '--version', '2.0.0', '--yes', '--json'], stack.cliEnv)
    expect(run.code, run.stderr).toBe(0)
    expect(await productionPool(stack)).toBe('green')
    const events = ndjson(run.stdout)
    expect(events.at(-1)).toMatchObject({ type: 'result', ok: true })
    const said = warnings(events)
    expect(
      said.filter((w) =>
        /could not notify http:\/\/127\.0\.0\.1:\d+\/services\/\*\*\*.* answered 500/.test(w),
      ),
    ).toHaveLength(2)
    expect(said.some((w) => w.includes(`127.0.0.1:${port}/hook`) && /release\.done/.test(w))).toBe(true)
    // Each 500 was retried once (2 attempts), and the Slack message named the release
    expect(failing.requests).toHaveLength(4)
    expect(JSON.parse(failing.requests[0].body)).toMatchObject({
      text: expect.stringContaining('releasing 2.0.0'),
    })
    // The webhook's token is in no output
    expect(run.stdout + run.stderr).not.toContain(secret)
  }, 90_000)

  it('tell an automatic rollback, with its reason, after the switch; no release.failed then', async () => {
    stack = await startE2eStack()
    const hook = await receiver()
    const file = plan({
      notify: [
        {
          url: `${hook.url}/hook`,
          format: 'json',
          events: ['release.started', 'release.done', 'release.failed', 'rollback'],
        },
      ],
    })
    const run = await bluegreen(['release', file, '--version', '2.0.0', '--yes', '--json'], {
      ...stack.cliEnv,
      E2E_VERIFY_PREFIX: 'never-',
    })
    expect(run.code).toBe(3)
    expect(await productionPool(stack)).toBe('blue')
    const sent = bodies(hook)
    expect(sent.map((b) => b.event)).toEqual(['release.started', 'rollback'])
    expect(sent[1]).toMatchObject({ automatic: true, pool: 'blue', fromPool: 'green', app: 'shop' })
    expect(String(sent[1].reason)).toContain('VERIFY_FAILED')
    // Sent strictly after the load balancer switched back
    const events = ndjson(run.stdout)
    const switchedBack = events.filter((e) => e.type === 'switch').at(-1)!
    const arrived = performance.timeOrigin + hook.requests[1].at
    expect(arrived).toBeGreaterThanOrEqual(Date.parse(String(switchedBack.at)))
  }, 90_000)

  it('tell once that a release waits at an approval gate, with its deadline', async () => {
    stack = await startE2eStack()
    const hook = await receiver()
    const file = plan({
      beforeSwitch: '- approve: { timeout: 1h, onTimeout: abandon }',
      notify: [{ url: `${hook.url}/hook`, format: 'json', events: ['approval.waiting', 'release.failed'] }],
    })
    // When the release reaches the gate, and a resume without approval stops there again
    const first = await bluegreen(['release', file, '--version', '2.0.0', '--yes'], stack.cliEnv)
    const again = await bluegreen(['release', file, '--resume', '--yes'], stack.cliEnv)
    // Then both wait (exit 6), and the webhook heard of it once, with the deadline
    expect([first.code, again.code]).toEqual([6, 6])
    const sent = bodies(hook)
    expect(sent.map((b) => b.event)).toEqual(['approval.waiting'])
    expect(sent[0]).toMatchObject({ version: '2.0.0', pool: 'green', fromPool: 'blue' })
    expect(String(sent[0].reason)).toMatch(/until \d{4}-\d\d-\d\dT/)
    expect(await productionPool(stack)).toBe('blue')
  }, 120_000)

  it('tell a release whose approval timed out before traffic moved as failed: no rollback tells it', async () => {
    stack = await startE2eStack()
    const hook = await receiver()
    const file = plan({
      beforeSwitch: '- approve: { timeout: 2s, onTimeout: abandon }',
      notify: [{ url: `${hook.url}/hook`, format: 'json', events: ['release.failed', 'rollback'] }],
    })
    // Given a release waiting at the gate, and nobody approving it in time
    expect((await bluegreen(['release', file, '--version', '2.0.0', '--yes'], stack.cliEnv)).code).toBe(6)
    await new Promise((resolve) => setTimeout(resolve, 2500))
    // When cron's check applies the timeout
    const check = await bluegreen(['approve', file, '--check'], stack.cliEnv)
    // Then the release is closed, traffic never moved, and the webhook heard it failed, and why
    expect(check.code, check.stderr).toBe(0)
    expect(await productionPool(stack)).toBe('blue')
    const sent = bodies(hook)
    expect(sent.map((b) => b.event)).toEqual(['release.failed'])
    expect(sent[0]).toMatchObject({ version: '2.0.0', pool: 'green', fromPool: 'blue' })
    expect(String(sent[0].reason)).toMatch(/^APPROVAL_TIMED_OUT: approval timed out/)
  }, 120_000)

  it('tell of a stale lock a release takes over: its holder died without releasing it', async () => {
    stack = await startE2eStack()
    const hook = await receiver()
    const file = plan({ notify: [{ url: `${hook.url}/hook`, format: 'json', events: ['lock.stale'] }] })
    // Given a first release (it creates the journal), then a lock row left by a process that is gone
    expect((await bluegreen(['release', file, '--version', '2.0.0', '--yes'], stack.cliEnv)).code).toBe(0)
    expect(bodies(hook)).toEqual([])
    await sql(
      stack.databaseUrl,
      `INSERT INTO bluegreen.locks (app, holder, pid, host, since, command, backend_pid)
       VALUES ('shop', 'ci-bot', 2147483000, $1, now() - interval '2 hours', 'bluegreen release plan.yaml', 2147483000)`,
      [hostname()],
    )
    // When the next command takes the lock
    const run = await bluegreen(['retire', file, '--yes'], stack.cliEnv)
    // Then it runs, and the webhook hears that the lock was stale, and whose it was
    expect(run.code).toBe(0)
    const sent = bodies(hook)
    expect(sent.map((b) => b.event)).toEqual(['lock.stale'])
    expect(sent[0]).toMatchObject({ app: 'shop', by: 'ci-bot' })
    expect(String(sent[0].reason)).toContain('pid 2147483000')
  }, 120_000)

  it('tell a failed release, with its reason, when no rollback follows', async () => {
    stack = await startE2eStack()
    const hook = await receiver()
    const file = plan({
      notify: [
        { url: `${hook.url}/hook`, format: 'json', events: ['release.failed', 'release.done', 'rollback'] },
      ],
    })
    const run = await bluegreen(['release', file, '--version', '2.0.0', '--yes'], {
      ...stack.cliEnv,
      E2E_SMOKE_PREFIX: 'not-',
    })
    expect(run.code).toBe(1)
    const sent = bodies(hook)
    expect(sent.map((b) => b.event)).toEqual(['release.failed'])
    expect(sent[0]).toMatchObject({ version: '2.0.0', pool: 'green', fromPool: 'blue' })
    expect(String(sent[0].reason)).toContain('SMOKE_FAILED')
  }, 90_000)

  it('never delay a rollback: a webhook that never answers leaves the switch time as it was', async () => {
    stack = await startE2eStack()
    const env = stack.cliEnv
    const quiet = plan({})
    const hanging = await receiver('hang')
    const loud = plan({
      notify: [
        { url: `${hanging.url}/hook`, format: 'json', events: ['rollback'], timeout: '30s', retries: 1 },
      ],
    })
    // Baseline: a rollback with no webhook
    expect((await bluegreen(['release', quiet, '--version', '2.0.0', '--yes'], env)).code).toBe(0)
    const plain = await bluegreen(['rollback', '--plan', quiet, '--yes', '--json'], env)
    expect(plain.code, plain.stderr).toBe(0)
    const baselineMs = between(ndjson(plain.stdout), 'rollback.start', 'switch')

    // The same with a webhook that never answers
    expect((await bluegreen(['release', quiet, '--version', '3.0.0', '--yes'], env)).code).toBe(0)
    const started = Date.now()
    const told = await bluegreen(['rollback', '--plan', loud, '--yes', '--json'], env)
    const commandMs = Date.now() - started
    expect(told.code, told.stderr).toBe(0)
    expect(await productionPool(stack)).toBe('blue')
    const events = ndjson(told.stdout)
    const hangingMs = between(events, 'rollback.start', 'switch')
    console.log(
      `rollback switch: ${baselineMs} ms without a webhook, ${hangingMs} ms with one that never answers; command ${commandMs} ms`,
    )
    expect(hangingMs).toBeLessThan(baselineMs + 500)
    // The webhook was asked only after the switch, and the command gave up on it after 5 s
    expect(hanging.requests).toHaveLength(1)
    const switched = events.find((e) => e.type === 'switch')!
    expect(performance.timeOrigin + hanging.requests[0].at).toBeGreaterThanOrEqual(
      Date.parse(String(switched.at)),
    )
    expect(warnings(events).some((w) => /abandoned: still unsent when the 5s wait/.test(w))).toBe(true)
    expect(commandMs).toBeLessThan(15_000)
  }, 120_000)
})
