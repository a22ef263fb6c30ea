/**
 * The deploy phase, called through its definition: a real command deploys to the inactive pool
 * (argv, BLUEGREEN_* environment, streamed output, failure and timeout codes), then the phase
 * waits for that pool to be healthy in a real HAProxy, whose health checks decide.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { phases } from '../../src/phases/index.js'
import { failure } from '../support/failure.js'
import { haveBinary, waitFor } from '../support/process.js'
import {
  buildPlan,
  startHaproxyFixture,
  stepRunner,
  type HaproxyFixture,
  tempFileJournal,
  validateAt,
  wordsFor,
  type PhaseHarnessOptions,
} from './context.js'

const deploy = phases.deploy

describe.runIf(haveBinary('haproxy'))('deploy phase', () => {
  let stack: HaproxyFixture
  let temp: Awaited<ReturnType<typeof tempFileJournal>>

  beforeAll(async () => {
    stack = await startHaproxyFixture(2, { blue: '1.0.0', green: '1.0.0' })
    temp = await tempFileJournal()
  })
  afterAll(async () => {
    await stack?.stop()
    await temp?.remove()
  })
  beforeEach(async () => {
    // Every test starts with the green pool down (its app answers 500 to HAProxy's checks).
    for (const app of stack.apps.green) app.setMode('status500')
    await waitFor(
      async () => (await stack.lb.targets('green')).every((t) => t.health === 'unhealthy'),
      5000,
      'green down',
    )
  })

  async function harnessFor(config: object, options: Partial<PhaseHarnessOptions> = {}) {
    const plan = buildPlan({ ...stack.sections, phases: [{ deploy: config }] }, temp.dir)
    return stepRunner('deploy', { plan, planDir: temp.dir, journal: temp.journal, lb: stack.lb, ...options })
  }

  it('describes the command and both waits, and refuses a bare string command at load', () => {
    // Given
    const config = deploy.schema.parse({
      run: ['./deploy.sh', '{{pool}}', '{{version}}'],
      healthTimeout: '2m',
    })
    const plan = buildPlan(
      {
        loadBalancer: stack.haproxy.config,
        pools: stack.haproxy.pools,
        phases: [{ deploy: config }, { deploy: { run: './deploy.sh' } }],
      },
      temp.dir,
    )
    // When
    const words = deploy.describe(config, wordsFor(plan, { pool: 'green', version: '2.0.0' }))
    const issues = deploy.validate?.(
      (plan.phases[1] as { deploy: never }).deploy,
      validateAt(plan, 1, temp.dir),
    )
    // Then
    expect(words.target).toBe('pool green')
    expect(words.summary).toBe(
      'run ./deploy.sh green 2.0.0 (timeout 15m), then wait up to 2m for the pool to be healthy',
    )
    expect(words.durationMs).toBe(15 * 60_000 + 2 * 60_000)
    expect(issues).toEqual([expect.objectContaining({ path: ['phases', 1, 'deploy', 'run'] })])
  })

  it('runs the deploy command, then waits until HAProxy sees the new pool healthy', async () => {
    // Given a deploy command that reports where it deploys; the test's "deploy" brings green up
    // when it sees that line, as a real deploy would bring up the new version
    const script =
      'console.log(`deploying ${process.env.BLUEGREEN_VERSION} to ${process.env.BLUEGREEN_POOL} (${process.env.BLUEGREEN_POOL_SERVERS})`)'
    let deployedAt = 0
    const { harness, run } = await harnessFor(
      { run: ['node', '-e', script], healthTimeout: '10s' },
      {
        onOutput: (_, line) => {
          if (!line.startsWith('deploying')) return
          deployedAt = Date.now()
          for (const app of stack.apps.green) app.setMode('ok')
        },
      },
    )
    // When
    const summary = await run()
    // Then the command saw its pool, and the phase returned only once HAProxy marked every target up
    expect(harness.output).toEqual([{ stream: 'stdout', line: 'deploying 2.0.0 to green (green1,green2)' }])
    expect(deployedAt).toBeGreaterThan(0)
    expect((await stack.lb.targets('green')).map((t) => t.health)).toEqual(['healthy', 'healthy'])
    expect(summary).toMatch(/^deployed 2\.0\.0 to green in .+; 2 targets healthy after .+$/)
    expect(harness.progress[0]).toMatch(
      /^deployed in .+; waiting for green to be healthy in the load balancer$/,
    )
    expect(harness.progress.some((line) => /^[0-2]\/2 targets healthy$/.test(line))).toBe(true)
  })

  it('fails with POOL_UNHEALTHY when the pool does not come up within healthTimeout', async () => {
    // Given a deploy that succeeds, but green keeps failing its health checks
    const { run } = await harnessFor({ run: ['true'], healthTimeout: '1s' })
    // When
    const error = await failure(run())
    // Then
    expect(error).toMatchObject({ code: 'POOL_UNHEALTHY' })
    expect(error.message).toMatch(/^pool green is not healthy after 1s: 2 of 2 targets not healthy/)
    expect(error.details).toHaveLength(2)
  })

  it('fails with DEPLOY_FAILED when the command fails, before touching the load balancer', async () => {
    // Given
    const { harness, run } = await harnessFor({
      run: 'echo "no such image $BLUEGREEN_VERSION" >&2; exit 7',
      shell: true,
    })
    // When
    const error = await failure(run())
    // Then
    expect(error).toMatchObject({ code: 'DEPLOY_FAILED', details: ['no such image 2.0.0'] })
    expect(error.message).toBe('deploy of 2.0.0 to green failed with exit code 7')
    expect(harness.progress).toEqual([])
  })

  it('fails with DEPLOY_TIMEOUT when the command outlives its timeout', async () => {
    // Given
    const { run } = await harnessFor({ run: ['sleep', '20'], timeout: '300ms' })
    // When
    const started = Date.now()
    const error = await failure(run())
    // Then
    expect(error).toMatchObject({ code: 'DEPLOY_TIMEOUT' })
    expect(error.message).toMatch(/^deploy of 2\.0\.0 to green did not finish within 300ms/)
    expect(Date.now() - started).toBeLessThan(5000)
  })
})
