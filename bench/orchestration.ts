/**
 * What does the orchestration itself cost? A full release of test/fixtures/e2e/plan.yaml (expand,
 * backfill of 1,000 rows, deploy, smoke, switch in two steps, verify, standby, contract) by the
 * built CLI, on a fresh local stack each time, whose deploy command returns at once (it tells the
 * demo servers to answer as the new version). Its time minus the waits the plan configures (the
 * switch's pause between steps, verify's pauses between samples) is the orchestration overhead, reported against
 * `node -e 0` and against the deploy command alone, measured in the same run.
 *
 *   npx tsx bench/orchestration.ts [--runs 5]
 */
import { startPostgres } from '../test/support/postgres.js'
import { buildCli, runProcess, type BuiltCli } from './lib/cli.js'
import { isMain, numberFlag, withCleanup } from './lib/main.js'
import { formatTable, stats, type Stats } from './lib/measure.js'
import { codeBlock, fmtMs, markdownTable, times, type Section } from './lib/report.js'
import { deployCommand, e2ePlan, e2ePlanDir, readPlan, startBenchStack } from './lib/stack.js'

export interface OrchestrationOptions {
  cli: BuiltCli
  serverUrl: string
  runs: number
}

interface StepDone {
  type: string
  kind?: string
  ms?: number
}

export async function orchestrationBench({ cli, serverUrl, runs }: OrchestrationOptions): Promise<Section> {
  const plan = await readPlan()
  const node = process.execPath
  const warmup = 1
  const samples = new Map<string, number[]>()
  const steps = new Map<string, number[]>()
  const push = (map: Map<string, number[]>, key: string, value: number) =>
    map.set(key, [...(map.get(key) ?? []), value])
  const names = {
    node: 'node -e 0',
    deploy: 'deploy command alone',
    release: 'release (total)',
    overhead: 'release − configured waits',
  }

  for (let round = 0; round < warmup + runs; round++) {
    const bench = await startBenchStack(serverUrl, 'release')
    try {
      const cases: { name: string; run: () => Promise<void> }[] = [
        {
          name: names.node,
          run: async () => {
            const started = performance.now()
            const exited = await runProcess(node, ['-e', '0'])
            if (round >= warmup) push(samples, names.node, exited.exitedAt - started)
          },
        },
        {
          name: names.deploy,
          run: async () => {
            // Exactly what the release's deploy step runs: green gets 2.0.0.
            const [command, args] = deployCommand(plan, 'green', '2.0.0')
            const started = performance.now()
            const exited = await runProcess(command, args, { cwd: e2ePlanDir, env: bench.env })
            if (exited.code !== 0) throw new Error(`the deploy command failed: ${exited.stderr}`)
            if (round >= warmup) push(samples, names.deploy, exited.exitedAt - started)
          },
        },
        {
          name: names.release,
          run: async () => {
            const started = performance.now()
            const exited = await runProcess(
              node,
              [cli.bin, 'release', e2ePlan, '--version', '2.0.0', '--yes', '--json'],
              { env: bench.env, timeoutMs: 120_000 },
            )
            if (exited.code !== 0) {
              throw new Error(`the release exited with ${exited.code}:\n${exited.stdout}\n${exited.stderr}`)
            }
            const total = exited.exitedAt - started
            if (round < warmup) return
            push(samples, names.release, total)
            push(samples, names.overhead, total - plan.configuredWaitsMs)
            const events = exited.stdout
              .trim()
              .split('\n')
              .map((line) => JSON.parse(line) as StepDone)
            let inSteps = 0
            for (const e of events.filter((x) => x.type === 'step.done' && x.kind && x.ms !== undefined)) {
              push(steps, e.kind!, e.ms!)
              inSteps += e.ms!
            }
            push(steps, '(outside the steps)', total - inSteps)
          },
        },
      ]
      for (const c of cases.map((_, i) => cases[(i + round) % cases.length])) await c.run()
      process.stdout.write('.')
    } finally {
      await bench.close()
    }
  }
  process.stdout.write('\n')

  const results: Stats[] = [names.node, names.deploy, names.release, names.overhead].map((n) =>
    stats(n, samples.get(n)!),
  )
  const table = formatTable(results, names.node)
  const [base, deploy, , overhead] = results
  const stepTable = markdownTable([
    ['step', 'median', 'configured wait in it'],
    ...[...steps].map(([kind, ms]) => [
      kind,
      fmtMs(stats(kind, ms).median),
      kind === 'switch'
        ? (plan.waits.find((w) => w.startsWith('switch')) ?? '')
        : kind === 'verify'
          ? (plan.waits.find((w) => w.startsWith('verify')) ?? '')
          : '',
    ]),
  ])
  console.log(`orchestration, ${runs} runs each\n\n${table}\n`)
  return {
    title: 'Orchestration overhead',
    body: [
      `A full release of test/fixtures/e2e/plan.yaml (\`bluegreen release … --version 2.0.0 --yes --json\`, the built ` +
        'CLI) on a fresh local stack and database each run: expand (2 migrations), backfill of 1,000 rows in batches of ' +
        '250, deploy (the demo deploy step: one HTTP call to the demo’s control server, then the pool’s health in the ' +
        'load balancer), smoke (2 checks per target), switch 50% → 100%, verify, standby, contract. Its time from spawn ' +
        `to exit, minus the waits the plan configures (${plan.waits.join('; ')}: ${fmtMs(plan.configuredWaitsMs)} in all), ` +
        'is the overhead of orchestrating: CLI start-up, plan, journal and lock in PostgreSQL, every AWS call, the ' +
        'migrations, the backfill, the checks and the journal writes. Baselines, in the same rounds, rotating order: ' +
        '`node -e 0`, and the deploy command alone (`node plans/demo/deploy.mjs green 2.0.0`, what the deploy step runs). ' +
        `${runs} rounds after ${warmup} untimed.`,
      '',
      codeBlock(table),
      '',
      `**Overhead: ${fmtMs(overhead.median)} = ${times(overhead.median, base.median)} \`node -e 0\`, ` +
        `${times(overhead.median, deploy.median)} the deploy command alone.** Time per step (medians, from the ` +
        'release’s own `step.done` events):',
      '',
      stepTable,
    ].join('\n'),
    headline: [
      `orchestration overhead of a full release: ${fmtMs(overhead.median)} beyond its configured waits ` +
        `(${times(overhead.median, base.median)} \`node -e 0\`, ${times(overhead.median, deploy.median)} the deploy command alone)`,
    ],
  }
}

if (isMain(import.meta.url)) {
  await withCleanup(async (cleanup) => {
    const cli = await buildCli()
    cleanup.add('the CLI build', () => cli.remove())
    const server = await startPostgres()
    cleanup.add(`PostgreSQL (pid ${server.pid})`, () => server.stop())
    const section = await orchestrationBench({ cli, serverUrl: server.url, runs: numberFlag('runs', 5) })
    console.log(section.body)
  })
}
