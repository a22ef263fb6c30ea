/**
 * The release engine with an in-memory load balancer and the file journal: the order of
 * steps, the journal, exit codes, automatic rollback, resume, the lock and dry runs.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { EngineContext } from '../../src/engine/context.js'
import { FileJournal } from '../../src/journal/file.js'
import type { EngineEvent } from '../../src/events.js'
import { release } from '../../src/engine/release.js'
import { rollback } from '../../src/engine/rollback.js'
import { status } from '../../src/engine/status.js'
import { trafficFrom, type Traffic } from '../../src/lb/types.js'
import { BluegreenError } from '../../src/errors.js'
import { smokePhase } from '../../src/phases/smoke.js'
import { planSchema } from '../../src/plan/schema.js'
import { MemoryLoadBalancer } from './memory-lb.js'

let dir: string
let lb: MemoryLoadBalancer
let events: EngineEvent[]

function context(phases: unknown[], overrides: Partial<EngineContext> = {}): EngineContext {
  const plan = planSchema().parse({
    app: 'shop',
    state: { file: join(dir, 'state.json') },
    loadBalancer: { provider: 'haproxy', runtimeApi: '/dev/null', backend: 'app' },
    pools: { blue: { servers: ['b1'] }, green: { servers: ['g1'] } },
    phases,
  })
  return {
    plan,
    planFile: join(dir, 'plan.yaml'),
    planDir: dir,
    planHash: JSON.stringify(phases),
    lb,
    journal: new FileJournal(join(dir, 'state.json')),
    journalOffline: false,
    emit: (e) => events.push(e),
    signal: new AbortController().signal,
    actor: 'tester',
    command: 'bluegreen release test',
    ...overrides,
  }
}

const deploy = {
  deploy: { run: ['sh', '-c', 'echo deploying $BLUEGREEN_POOL $BLUEGREEN_VERSION'], healthTimeout: '2s' },
}
const switchAll = { switch: {} }

async function failureOf(promise: Promise<unknown>): Promise<BluegreenError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof BluegreenError) return error
    throw error
  }
  throw new Error('expected the release to fail')
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bluegreen-engine-'))
  lb = new MemoryLoadBalancer()
  events = []
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('release', () => {
  it('deploys to the inactive pool, switches to it, and journals every step', async () => {
    // Given blue is live
    const ctx = context([deploy, switchAll, { standby: { for: '1h' } }])
    // When v2 is released
    const result = await release(ctx, { version: 'v2', resume: false, force: false, dryRun: false })
    // Then green is live, the deploy saw its pool and version, and the journal has it all
    expect(result.to).toBe('green')
    expect(lb.weights).toEqual({ blue: 0, green: 100 })
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'step.output', line: 'deploying green v2' }),
    )
    const [record] = await ctx.journal.releases('shop', 1)
    expect(record).toMatchObject({ version: 'v2', status: 'done', from: 'blue', to: 'green' })
    const steps = await ctx.journal.steps(record.id)
    expect(steps.map((s) => `${s.kind}:${s.status}`)).toEqual(['deploy:done', 'switch:done', 'standby:done'])
    expect((await ctx.journal.pools('shop')).green).toMatchObject({ version: 'v2', standing: 'live' })
    expect((await ctx.journal.pools('shop')).blue).toMatchObject({ standing: 'standby' })

    // And the next release goes the other way
    const next = await release(context([deploy, switchAll]), {
      version: 'v3',
      resume: false,
      force: false,
      dryRun: false,
    })
    expect(next.to).toBe('blue')
    expect(lb.weights).toEqual({ blue: 100, green: 0 })
  })

  it('lets the next step load what it needs while this one waits on its command', async () => {
    // Given a deploy that takes a while, then a smoke test, whose warm-up notes when it ran
    const warmUp = vi.spyOn(smokePhase, 'warmUp').mockImplementation(() => {
      events.push({ type: 'warning', message: 'warmed up' })
      return Promise.resolve()
    })
    try {
      const slowDeploy = { deploy: { run: ['sh', '-c', 'sleep 0.3'], healthTimeout: '2s' } }
      const smoke = { smoke: { host: 'shop.example.com', checks: [{ path: '/health' }], deadline: '1s' } }
      const ctx = context([slowDeploy, smoke, switchAll])
      // When it is released (the smoke test itself fails: no app answers)
      await failureOf(release(ctx, { version: 'v2', resume: false, force: false, dryRun: false }))
      // Then the smoke phase warmed up once, after the deploy started and before it was done
      expect(warmUp).toHaveBeenCalledTimes(1)
      const at = (match: (e: EngineEvent) => boolean) => events.findIndex(match)
      const warmed = at((e) => e.type === 'warning' && e.message === 'warmed up')
      expect(warmed).toBeGreaterThan(at((e) => e.type === 'step.start' && e.kind === 'deploy'))
      expect(warmed).toBeLessThan(at((e) => e.type === 'step.done' && e.kind === 'deploy'))
    } finally {
      warmUp.mockRestore()
    }
  })

  it('walks weighted steps and does not repeat a switch that was already made', async () => {
    const ctx = context([deploy, { switch: { steps: [10, 50, 100] } }])
    await release(ctx, { version: 'v2', resume: false, force: false, dryRun: false })
    expect(lb.shifts.map((s) => s.weight)).toEqual([10, 50, 100])
  })

  it('fails before the switch with exit 1 and leaves production untouched', async () => {
    const ctx = context([{ deploy: { run: ['sh', '-c', 'echo broken >&2; exit 3'] } }, switchAll])
    const error = await failureOf(release(ctx, { version: 'v2', resume: false, force: false, dryRun: false }))
    expect(error.code).toBe('DEPLOY_FAILED')
    expect(error.exitCode).toBe(1)
    expect(error.details).toContain('broken')
    expect(lb.shifts).toEqual([])
    expect((await ctx.journal.releases('shop', 1))[0]?.status).toBe('failed')
  })

  it('switches back automatically when a step after the switch fails (exit 3)', async () => {
    const ctx = context([deploy, switchAll, { exec: { name: 'warm caches', run: ['false'] } }])
    const error = await failureOf(release(ctx, { version: 'v2', resume: false, force: false, dryRun: false }))
    expect(error.exitCode).toBe(3)
    expect(error.message).toContain('switched back to blue')
    expect(lb.weights).toEqual({ blue: 100, green: 0 })
    expect((await ctx.journal.releases('shop', 1))[0]?.status).toBe('rolled_back')
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'rollback.start', automatic: true, to: 'blue' }),
    )
  })

  it('reports both causes when the automatic rollback fails too (exit 5)', async () => {
    const ctx = context([deploy, switchAll, { exec: { run: ['false'] } }])
    const shift = lb.shift.bind(lb)
    lb.shift = async (to, weight) => {
      if (to === 'blue')
        throw new BluegreenError({ code: 'LB_UNREACHABLE', message: 'API timed out', hint: 'retry' })
      return shift(to, weight)
    }
    const error = await failureOf(release(ctx, { version: 'v2', resume: false, force: false, dryRun: false }))
    expect(error.exitCode).toBe(5)
    expect(error.message).toContain('exec failed')
    expect(error.message).toContain('API timed out')
  })

  it('refuses a second release while one is unfinished, and resumes it from the first unfinished step', async () => {
    // Given a release interrupted during its second step
    const controller = new AbortController()
    const ctx = context([deploy, { exec: { run: ['sleep', '5'] } }, switchAll], { signal: controller.signal })
    setTimeout(() => controller.abort(), 300)
    const interrupted = await failureOf(
      release(ctx, { version: 'v2', resume: false, force: false, dryRun: false }),
    )
    expect(interrupted.code).toBe('INTERRUPTED')
    expect(interrupted.exitCode).toBe(1)

    // When another release starts without --resume, it is refused with exit 4
    const again = await failureOf(
      release(context([deploy, { exec: { run: ['true'] } }, switchAll]), {
        version: 'v3',
        resume: false,
        force: false,
        dryRun: false,
      }),
    )
    expect(again.code).toBe('UNFINISHED_RELEASE')
    expect(again.exitCode).toBe(4)

    // And a resume with a changed plan is refused unless forced
    const changed = await failureOf(
      release(context([deploy, { exec: { run: ['true'] } }, switchAll]), {
        resume: true,
        force: false,
        dryRun: false,
      }),
    )
    expect(changed.code).toBe('PLAN_CHANGED')

    // Then --resume --force skips the finished deploy and completes the rest
    events = []
    const resumed = await release(context([deploy, { exec: { run: ['true'] } }, switchAll]), {
      resume: true,
      force: true,
      dryRun: false,
    })
    expect(resumed.steps.map((s) => s.status)).toEqual(['skipped', 'done', 'done'])
    expect(events.filter((e) => e.type === 'step.output')).toEqual([])
    expect(lb.weights.green).toBe(100)
  })

  it('lets only one release hold the lock; the other exits 4 at once', async () => {
    const slow = context([{ exec: { run: ['sleep', '1'] } }, switchAll])
    const first = release(slow, { version: 'v2', resume: false, force: false, dryRun: false })
    await new Promise((resolve) => setTimeout(resolve, 150))
    const started = Date.now()
    const second = await failureOf(
      release(context([switchAll]), { version: 'v3', resume: false, force: false, dryRun: false }),
    )
    expect(second.code).toBe('LOCKED')
    expect(second.exitCode).toBe(4)
    expect(second.message).toContain(`pid ${process.pid}`)
    expect(Date.now() - started).toBeLessThan(500)
    await first
  })

  it('does nothing on a dry run', async () => {
    const ctx = context([deploy, switchAll])
    const result = await release(ctx, { version: 'v2', resume: false, force: false, dryRun: true })
    expect(result.steps.map((s) => s.status)).toEqual(['planned', 'planned'])
    expect(result.to).toBe('green')
    expect(lb.shifts).toEqual([])
    expect(await ctx.journal.releases('shop', 5)).toEqual([])
  })
})

describe('rollback', () => {
  /** v2 released onto green, blue kept as the standby: the rollback target. */
  const releaseWithStandby = () =>
    release(context([deploy, switchAll, { standby: { for: '1h' } }]), {
      version: 'v2',
      resume: false,
      force: false,
      dryRun: false,
    })

  it('switches back to the standby pool and records it', async () => {
    await releaseWithStandby()
    const ctx = context([deploy, switchAll])
    const result = await rollback(ctx, { force: false })
    expect(result).toMatchObject({ from: 'green', to: 'blue', changed: true, journaled: true })
    expect(lb.weights).toEqual({ blue: 100, green: 0 })
    expect((await ctx.journal.releases('shop', 1))[0]?.status).toBe('rolled_back')
    expect((await ctx.journal.auditLog('shop', 5)).map((e) => e.action)).toContain('rollback')
  })

  it('reads the standby pool’s health while it waits for the release lock, not after', async () => {
    await releaseWithStandby()
    const order: string[] = []
    const read = lb.targets.bind(lb)
    lb.targets = (pool) => (order.push(`health of ${pool}`), read(pool))
    const journal = new FileJournal(join(dir, 'state.json'))
    const take = journal.withLock.bind(journal)
    // Given a journal that takes 50 ms to grant the lock
    journal.withLock = async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 50))
      order.push('locked')
      return take(...args)
    }
    // When the rollback runs
    const result = await rollback(context([deploy, switchAll], { journal }), { force: false })
    // Then the standby's health was read during that wait, once, and the rollback switched to it
    expect(order).toEqual(['health of blue', 'locked'])
    expect(result).toMatchObject({ from: 'green', to: 'blue', changed: true })
    expect(lb.weights).toEqual({ blue: 100, green: 0 })
  })

  it('decides from the traffic read the command started ahead while fresh, and reads again when not', async () => {
    await releaseWithStandby()
    const order: string[] = []
    const read = lb.traffic.bind(lb)
    const shift = lb.shift.bind(lb)
    lb.traffic = () => (order.push('read'), read())
    lb.shift = (...args) => (order.push('switch'), shift(...args))
    const beforeSwitch = () => order.slice(0, order.indexOf('switch') + 1)
    // Given a read started ahead that says green is live
    const ahead = (ageMs: number) => ({ read: read(), at: Date.now() - ageMs })
    // When the rollback starts within 500 ms of it
    const result = await rollback(context([deploy, switchAll], { trafficAhead: ahead(0) }), { force: false })
    // Then it switches without a read of its own before the switch
    expect(result).toMatchObject({ from: 'green', to: 'blue', changed: true })
    expect(beforeSwitch()).toEqual(['switch'])
    // When the read ahead is older than that (a slow journal connection), it reads the traffic anew
    await releaseWithStandby()
    order.length = 0
    await rollback(context([deploy, switchAll], { trafficAhead: ahead(2000) }), { force: false })
    expect(beforeSwitch()).toEqual(['read', 'switch'])
  })

  it('status shows the traffic read ahead while fresh, and reads it anew when it is not', async () => {
    await releaseWithStandby()
    let reads = 0
    const read = lb.traffic.bind(lb)
    lb.traffic = () => (reads++, read())
    const ahead = (traffic: Promise<Traffic>, ageMs: number) => ({
      trafficAhead: { read: traffic, at: Date.now() - ageMs },
    })
    const report = await status(context([deploy, switchAll], ahead(read(), 0)))
    expect(reads).toBe(0)
    expect(report.traffic.live).toBe('green')
    // A read from before a slow journal connection may be out of date: status does not show it
    lb.weights = { blue: 100, green: 0 }
    const old = Promise.resolve(trafficFrom({ blue: 0, green: 100 }))
    const later = await status(context([deploy, switchAll], ahead(old, 2000)))
    expect(reads).toBe(1)
    expect(later.traffic.live).toBe('blue')
  })

  it('refuses to send users to an unhealthy standby pool (exit 5)', async () => {
    await release(context([deploy, switchAll]), { version: 'v2', resume: false, force: false, dryRun: false })
    lb.health.blue = 'unhealthy'
    const error = await failureOf(rollback(context([switchAll]), { force: false }))
    expect(error.code).toBe('ROLLBACK_UNSAFE')
    expect(error.exitCode).toBe(5)
    expect(lb.weights.green).toBe(100)
  })
})
