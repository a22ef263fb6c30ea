/**
 * The exec phase, called through its definition: its config, its words, its load-time check, and
 * real commands run through it (argv and shell, the BLUEGREEN_* environment, streamed output,
 * a failure and a timeout that stops the command's whole process group).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { phases } from '../../src/phases/index.js'
import { failure } from '../support/failure.js'
import { buildPlan, phaseHarness, stepRunner, tempFileJournal, validateAt, wordsFor } from './context.js'

const exec = phases.exec
let temp: Awaited<ReturnType<typeof tempFileJournal>>

beforeAll(async () => {
  temp = await tempFileJournal()
})
afterAll(() => temp.remove())

/** Runs one exec entry of a plan through the definition, over the file journal. */
async function runExec(config: object, planEnv: Record<string, string> = {}) {
  const plan = buildPlan(
    {
      pools: { blue: { servers: ['blue1'] }, green: { servers: ['green1'], env: planEnv } },
      phases: [{ exec: config }],
    },
    temp.dir,
  )
  return stepRunner('exec', { plan, planDir: temp.dir, journal: temp.journal })
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('exec phase', () => {
  it('parses its config with defaults and describes the command without its secrets', () => {
    // Given an exec entry as a plan writes it
    const config = exec.schema.parse({
      name: 'warm caches',
      run: ['./warm.sh', '{{pool}}', 'two words'],
      env: { API_TOKEN: 's3cret' },
    })
    // When it is described for the green pool
    const plan = buildPlan({ phases: [{ exec: config }] }, temp.dir)
    const words = exec.describe(config, wordsFor(plan, { pool: 'green', version: '2.0.0' }))
    // Then the defaults apply, the line is copyable, and env values are never shown
    expect(config).toMatchObject({ shell: false, timeout: '10m' })
    expect(words.summary).toBe("warm caches: run ./warm.sh green 'two words' (timeout 10m)")
    expect(words.details).toEqual(['environment: API_TOKEN'])
    expect(words.durationMs).toBe(600_000)
    expect(JSON.stringify(words)).not.toContain('s3cret')
    expect(() => exec.schema.parse({ run: [] })).toThrow()
  })

  it('refuses at load a one-string command that does not say shell: true', () => {
    // Given
    const plan = buildPlan(
      { phases: [{ exec: { run: 'echo hi' } }, { exec: { run: 'echo hi', shell: true } }] },
      temp.dir,
    )
    const [bare, shelled] = plan.phases.map((entry) => (entry as { exec: never }).exec)
    // When
    const issues = exec.validate?.(bare, validateAt(plan, 0, temp.dir)) ?? []
    // Then
    expect(issues).toEqual([expect.objectContaining({ path: ['phases', 0, 'exec', 'run'], at: 'value' })])
    expect(issues[0].message).toMatch(/shell is not true/)
    expect(exec.validate?.(shelled, validateAt(plan, 1, temp.dir))).toEqual([])
  })

  it('runs an argv command with placeholders filled, the BLUEGREEN_* environment, and its output streamed', async () => {
    // Given a command that prints its argv and environment on stdout and a line on stderr
    const script = [
      'console.log(JSON.stringify(process.argv.slice(1)))',
      'for (const k of ["BLUEGREEN_APP","BLUEGREEN_VERSION","BLUEGREEN_POOL","BLUEGREEN_LIVE_POOL","BLUEGREEN_RELEASE_ID","REGION","EXTRA"]) console.log(k + "=" + process.env[k])',
      'console.error("to stderr")',
    ].join(';')
    const { harness, run } = await runExec(
      {
        name: 'probe',
        run: ['node', '-e', script, '{{pool}}', '{{version}}', '$(touch pwned); x'],
        env: { EXTRA: 'for {{pool}}' },
      },
      { REGION: 'eu-{{pool}}' },
    )
    // When
    const summary = await run()
    // Then the argv arrives word for word (no shell reads it) and the environment says who and what
    const stdout = harness.output.filter((o) => o.stream === 'stdout').map((o) => o.line)
    expect(JSON.parse(stdout[0])).toEqual(['green', '2.0.0', '$(touch pwned); x'])
    expect(stdout.slice(1)).toEqual([
      'BLUEGREEN_APP=shop',
      'BLUEGREEN_VERSION=2.0.0',
      'BLUEGREEN_POOL=green',
      'BLUEGREEN_LIVE_POOL=blue',
      `BLUEGREEN_RELEASE_ID=${harness.release.id}`,
      'REGION=eu-green',
      'EXTRA=for green',
    ])
    expect(harness.output).toContainEqual({ stream: 'stderr', line: 'to stderr' })
    expect(summary).toMatch(/^exec "probe" finished in \d+ ms$/)
  })

  it('runs a shell command with each placeholder value as one literal word', async () => {
    // Given a shell script that counts its words and upper-cases the pool from the environment
    const { harness, run } = await runExec({
      run: 'set -- {{version}}; echo "words=$#"; echo "$BLUEGREEN_POOL" | tr a-z A-Z; cd . && pwd',
      shell: true,
    })
    // When
    await run()
    // Then the shell ran (pipes work) in the plan's directory
    expect(harness.output.map((o) => o.line)).toEqual(['words=1', 'GREEN', temp.dir])
  })

  it('fails with EXEC_FAILED and the last lines of output when the command exits non-zero', async () => {
    // Given
    const { run } = await runExec({
      name: 'migrate cache',
      run: ['sh', '-c', 'echo step one; echo broken >&2; exit 3'],
    })
    // When
    const error = await failure(run())
    // Then
    expect(error).toMatchObject({ code: 'EXEC_FAILED' })
    expect(error.message).toBe('exec "migrate cache" failed with exit code 3')
    expect(error.details).toEqual(['step one', 'broken'])
    expect(error.hint).toBeTruthy()
  })

  it('stops a command that outlives its timeout, with everything it started (EXEC_FAILED)', async () => {
    // Given a command that starts a child and then hangs
    let childPid: number | undefined
    const plan = buildPlan(
      { phases: [{ exec: { run: ['sh', '-c', 'sleep 30 & echo "child $!"; wait'], timeout: '400ms' } }] },
      temp.dir,
    )
    const harness = await phaseHarness('exec', {
      plan,
      planDir: temp.dir,
      journal: temp.journal,
      onOutput: (_, line) => {
        const match = /^child (\d+)$/.exec(line)
        if (match) childPid = Number(match[1])
      },
    })
    // When
    const started = Date.now()
    const error = await failure(exec.run(harness.ctx))
    await temp.journal.finishRelease(harness.release.id, { status: 'failed' })
    // Then it failed at the timeout, not after the child's 30 s, and the child is gone too
    expect(error).toMatchObject({ code: 'EXEC_FAILED' })
    expect(error.message).toMatch(/did not finish within 400ms and was stopped with its children/)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(childPid).toBeGreaterThan(0)
    await expect.poll(() => processAlive(childPid!), { timeout: 3000 }).toBe(false)
  })
})
