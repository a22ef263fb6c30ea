/**
 * Drill 4 (issue 8): 200 malformed plans, made by seeded mutations of valid ones (the repository's
 * example and fixture plans), each given to `bluegreen plan validate` and to
 * `bluegreen release --dry-run` as separate processes. Every run must exit 2 with a message that
 * names the file, and never print a stack trace or "unexpected error". The seed is printed;
 * BLUEGREEN_DRILL_SEED=N repeats (or varies) the set.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validatePlanFiles } from '../../src/plan/validate.js'
import type { CliResult } from '../support/cli.js'
import { builtCliEnv, limit } from '../support/crash-walk.js'
import { bluegreen, repoRoot } from '../support/e2e.js'
import { stackLine } from './actionable.js'
import { mutate, mutationKinds, prng, type Mutant } from './plan-mutants.js'

const seed = Number(process.env.BLUEGREEN_DRILL_SEED ?? 20260817)
const count = 200

/** Directories copied to a scratch directory, so that each plan's relative paths still resolve there. */
const copied = ['test/fixtures/e2e', 'test/fixtures/drills', 'test/fixtures/plans/valid', 'plans/migrations']
const basePlans = [
  'test/fixtures/e2e/plan.yaml',
  'test/fixtures/drills/plan.yaml',
  'test/fixtures/drills/haproxy-plan.yaml',
  'test/fixtures/drills/hang-plan.yaml',
  'test/fixtures/plans/valid/minimal.yaml',
  'test/fixtures/plans/valid/anchors.yaml',
  'test/fixtures/plans/valid/numbers-as-text.yaml',
  'test/fixtures/plans/valid/nested/plan.yaml',
  'plans/aws-alb.yaml',
  'plans/haproxy.yaml',
  'plans/nginx.yaml',
]

/** Every ${VAR} the base plans need, set, so that only the mutation makes a plan wrong. */
const env: Record<string, string> = {
  DATABASE_URL: 'postgres://drill@127.0.0.1:9/drill',
  BLUEGREEN_ALB_ENDPOINT: 'http://127.0.0.1:9',
  BLUEGREEN_LISTENER_ARN:
    'arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/shop/0000000000000000/0000000000000000',
  BLUEGREEN_BLUE_TG_ARN:
    'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/shop-blue/0000000000000000',
  BLUEGREEN_GREEN_TG_ARN:
    'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/shop-green/0000000000000000',
  BLUEGREEN_DEMO_URL: 'http://127.0.0.1:9',
  BLUEGREEN_HAPROXY_API: '127.0.0.1:9',
  BLUEGREEN_HAPROXY_STATE: '/tmp/bluegreen-drill-haproxy.state',
  AWS_ACCESS_KEY_ID: 'drill',
  AWS_SECRET_ACCESS_KEY: 'drill',
  CI: 'true',
  ...builtCliEnv,
}

interface PlanMutant extends Mutant {
  index: number
  base: string
  file: string
}

let scratch: string
const mutants: PlanMutant[] = []
let discarded = 0

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'bluegreen-malformed-'))
  for (const dir of copied) cpSync(join(repoRoot, dir), join(scratch, dir), { recursive: true })
  for (const plan of basePlans.filter((p) => p.startsWith('plans/')))
    cpSync(join(repoRoot, plan), join(scratch, plan))
  // The mutations must be what makes a plan wrong: every base plan is valid where it is copied.
  for (const plan of basePlans) {
    const [result] = await validatePlanFiles([join(scratch, plan)], { env })
    if (!result.ok) throw new Error(`base plan ${plan} is not valid: ${JSON.stringify(result.errors)}`)
  }

  const random = prng(seed)
  for (let index = 0; index < count; index++) {
    const kind = mutationKinds[index % mutationKinds.length]
    for (let attempt = 0; ; attempt++) {
      if (attempt > 100) throw new Error(`no invalid ${kind} mutant after 100 attempts`)
      const base = basePlans[Math.floor(random() * basePlans.length)]
      const mutant = mutate(readFileSync(join(scratch, base), 'utf8'), kind, random)
      const file = join(scratch, dirname(base), `mutant-${index}.yaml`)
      writeFileSync(file, mutant.text)
      // A mutation can leave a plan valid (a deleted key with a default, a deleted comment):
      // those are not malformed plans; draw another. A loader that throws a bug is kept.
      const valid = await validatePlanFiles([file], { env }).then(
        ([result]) => result.ok,
        () => false,
      )
      if (!valid) {
        mutants.push({ ...mutant, index, base, file })
        break
      }
      discarded++
    }
  }
  const byKind = mutationKinds.map((kind) => `${kind} ${mutants.filter((m) => m.kind === kind).length}`)
  console.log(
    `malformed plans: seed ${seed} (BLUEGREEN_DRILL_SEED=${seed} repeats them): ${mutants.length} plans (${byKind.join(', ')}); ${discarded} mutants that stayed valid were drawn again`,
  )
}, 120_000)

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true })
})

/** What is wrong with one run's outcome, if anything. */
function problems(run: CliResult, file: string): string[] {
  const output = run.stdout + run.stderr
  const found: string[] = []
  if (run.code !== 2) found.push(`exit ${run.code ?? run.signal}, not 2`)
  if (!output.includes(basename(file))) found.push('the message does not name the file')
  if (stackLine.test(output)) found.push('a stack trace')
  if (output.includes('unexpected error')) found.push('"unexpected error"')
  return found
}

describe('drill: malformed plans', () => {
  it(`${count} malformed plans: plan validate and release --dry-run exit 2 with a message, never a stack trace`, async () => {
    // Given the mutants (beforeAll), one of every kind in turn
    expect(mutants).toHaveLength(count)
    for (const kind of mutationKinds) {
      expect(mutants.filter((m) => m.kind === kind).length).toBeGreaterThanOrEqual(
        Math.floor(count / mutationKinds.length),
      )
    }
    const describeMutant = (m: PlanMutant) => `#${m.index} ${m.kind} of ${m.base} (${m.change})`
    const slot = limit(3)

    // When each is dry-run by the CLI, one process per plan
    const dryRunFailures = await Promise.all(
      mutants.map((mutant) =>
        slot(async () => {
          const run = await bluegreen(['release', mutant.file, '--dry-run'], env)
          const found = problems(run, mutant.file)
          return found.length === 0
            ? undefined
            : `${describeMutant(mutant)}: release --dry-run: ${found.join('; ')}\n      ${excerpt(run)}`
        }),
      ),
    )
    // And validated, ten files per `plan validate` (its documented form: plan validate plans/*.yaml)
    const batches = Array.from({ length: Math.ceil(count / 10) }, (_, i) =>
      mutants.slice(i * 10, i * 10 + 10),
    )
    const validateFailures = await Promise.all(
      batches.map((batch) =>
        slot(async () => {
          const run = await bluegreen(['plan', 'validate', ...batch.map((m) => m.file)], env)
          const found = problems(run, batch[0].file).filter((p) => !p.includes('name the file'))
          const lines = run.stderr.split('\n')
          for (const mutant of batch) {
            // Each file gets its own verdict, and at least one error that names it with line and column.
            const verdict = lines.findIndex((line) => line.startsWith(`✗ ${mutant.file}: `))
            const named = lines.some((line) => line.trimStart().startsWith(`${mutant.file}:`))
            if (verdict < 0 || !named) found.push(`${describeMutant(mutant)}: no error reported for it`)
          }
          return found.length === 0
            ? undefined
            : `plan validate of ${batch.length} plans: ${found.join('; ')}\n      ${excerpt(run)}`
        }),
      ),
    )
    const failures = [...dryRunFailures, ...validateFailures].filter((failure) => failure !== undefined)

    // Then every one is refused as a plan error, with a message and no stack trace
    expect(failures, `seed ${seed}:\n${failures.join('\n')}`).toEqual([])
  }, 600_000)
})

function excerpt(run: CliResult): string {
  return run.stderr.split('\n').slice(0, 6).join('\n      ')
}
