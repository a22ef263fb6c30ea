/**
 * How instant is `bluegreen rollback`? From the start of the command (the built CLI as a child
 * process, the e2e plan, the local stack after a release) to production answering from the
 * standby pool, polled on fresh connections every 5 ms; and to the command's exit, after it has
 * confirmed the switch through the plan's verify and journaled it. Against `node -e 0`, and
 * against what users do without it: re-deploying the old version onto the live pool.
 *
 * Each rollback switches the other way from the last one (green → blue, then blue → green), so
 * every run is a real rollback from a live pool to a healthy standby pool.
 *
 *   npx tsx bench/rollback.ts [--runs 12] [--section-json FILE]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { otherPool, type LoadBalancer, type PoolName } from '../src/lb/types.js'
import { startTestApp, type TestApp } from '../test/support/http-app.js'
import { startPostgres } from '../test/support/postgres.js'
import { startApiRecorder, type ApiRecorder } from './lib/api-recorder.js'
import { startLatencyProxy } from './lib/latency-proxy.js'
import { buildCli, runProcess, type BuiltCli } from './lib/cli.js'
import { isMain, numberFlag, withCleanup } from './lib/main.js'
import { formatTable, measureTimings, stats, timingStats, type Stats } from './lib/measure.js'
import { idleGroup, summarizeProfile, type ProfileSummary } from './lib/profile.js'
import { codeBlock, fmtMs, markdownTable, times, type Section } from './lib/report.js'
import {
  deployCommand,
  e2ePlan,
  e2ePlanDir,
  pollProduction,
  readPlan,
  release,
  startBenchStack,
  type BenchStack,
} from './lib/stack.js'

export interface RollbackOptions {
  cli: BuiltCli
  /** A local stack after one release (green live on 2.0.0, blue standby on 1.0.0). */
  stack: BenchStack
  runs: number
}

interface Profiled {
  modifyAt: number
  productionAt: number
  exitAt: number
  summary: ProfileSummary
}

const awsDelayMs = 15
const dbDelayMs = 1

const names = {
  node: 'node -e 0',
  help: 'bluegreen rollback --help',
  sdk: 'node: import the ELBv2 SDK client',
  rollback: 'rollback',
  distant: 'rollback, AWS and the database across a network',
  partitioned: 'rollback, database partitioned',
  redeploy: 're-deploy (deploy step)',
  replace: 're-deploy (replace targets)',
} as const

export async function rollbackBench({ cli, stack, runs }: RollbackOptions): Promise<Section> {
  // The SDK in this process (for the re-deploy alternatives) would warn about Node 20 on stderr.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const plan = await readPlan()
  const { env: stackEnv, productionUrl, app } = stack.stack
  const node = process.execPath
  const recorder = await startApiRecorder(stackEnv.BLUEGREEN_ALB_ENDPOINT)
  // The CLI reaches the emulator through the recorder; everything else is the stack's.
  const rollbackEnv = { ...stack.env, BLUEGREEN_ALB_ENDPOINT: recorder.url }
  // As from a laptop or a CI runner to a region: each ELBv2 call 15 ms away, PostgreSQL 1 ms.
  const distantApi = await startApiRecorder(stackEnv.BLUEGREEN_ALB_ENDPOINT, { delayMs: awsDelayMs })
  const distantDb = await startLatencyProxy(stack.databaseUrl, dbDelayMs)
  const distantEnv = { ...stack.env, BLUEGREEN_ALB_ENDPOINT: distantApi.url, DATABASE_URL: distantDb.url }
  const { createLoadBalancer } = await import('../src/lb/index.js')
  const lb: LoadBalancer = await createLoadBalancer(
    {
      provider: 'aws-elbv2',
      region: 'us-east-1',
      listenerArn: stackEnv.BLUEGREEN_LISTENER_ARN,
      endpoint: stackEnv.BLUEGREEN_ALB_ENDPOINT,
    },
    {
      blue: { targetGroupArn: stackEnv.BLUEGREEN_BLUE_TG_ARN },
      green: { targetGroupArn: stackEnv.BLUEGREEN_GREEN_TG_ARN },
    },
  )
  const sdk = await import('@aws-sdk/client-elastic-load-balancing-v2')
  const elbv2 = new sdk.ElasticLoadBalancingV2Client({
    region: 'us-east-1',
    endpoint: stackEnv.BLUEGREEN_ALB_ENDPOINT,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  })
  const targetGroup = (pool: PoolName) =>
    pool === 'blue' ? stackEnv.BLUEGREEN_BLUE_TG_ARN : stackEnv.BLUEGREEN_GREEN_TG_ARN
  const livePool = async (): Promise<PoolName> => (await lb.traffic()).live
  const apiSequences: string[][] = []

  const timed = async (command: string, args: string[], options = {}): Promise<Record<string, number>> => {
    const started = performance.now()
    const exited = await runProcess(command, args, options)
    if (exited.code !== 0)
      throw new Error(`${command} ${args.join(' ')}: exit ${exited.code}\n${exited.stderr}`)
    return { total: exited.exitedAt - started }
  }

  /** One more rollback, under `node --cpu-prof`: where its time goes, up to the switch and after. */
  const profiledRollback = async (): Promise<Profiled> => {
    const dir = await mkdtemp(join(tmpdir(), 'bluegreen-bench-profile-'))
    try {
      const standby = otherPool(await livePool())
      await restoreStandby(stack.databaseUrl, standby)
      recorder.calls.length = 0
      const originUs = process.hrtime.bigint() / 1000n
      const started = performance.now()
      let failure: string | undefined
      const exiting = runProcess(
        node,
        ['--cpu-prof', `--cpu-prof-dir=${dir}`, cli.bin, 'rollback', '--plan', e2ePlan, '--yes'],
        { env: rollbackEnv },
      ).then((exited) => {
        if (exited.code !== 0) failure = `the profiled rollback exited with ${exited.code}:\n${exited.stderr}`
        return exited
      })
      const onStandby = await pollProduction(productionUrl, (a) => a.pool === standby, {
        giveUp: () => failure,
      })
      const exited = await exiting
      if (failure) throw new Error(failure)
      const modifyAt = recorder.calls.find((c) => c.action === 'ModifyListener')!.at - started
      return {
        modifyAt,
        productionAt: onStandby - started,
        exitAt: exited.exitedAt - started,
        summary: await summarizeProfile(dir, originUs, modifyAt),
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  /** One rollback, timed from its start to production on the standby and to its exit. */
  const timedRollback = async (api: ApiRecorder, env: NodeJS.ProcessEnv): Promise<Record<string, number>> => {
    const standby = otherPool(await livePool())
    // A rollback never toggles: the pool the last run left is "rolled back", not a target.
    // Outside the timed part, make it the standby again, as the next release would.
    await restoreStandby(stack.databaseUrl, standby)
    api.calls.length = 0
    const started = performance.now()
    let failure: string | undefined
    const exiting = runProcess(node, [cli.bin, 'rollback', '--plan', e2ePlan, '--yes'], {
      env,
    }).then((exited) => {
      if (exited.code !== 0) failure = `rollback exited with ${exited.code}:\n${exited.stderr}`
      return exited
    })
    const onStandby = await pollProduction(productionUrl, (a) => a.pool === standby, {
      giveUp: () => failure,
    })
    const exited = await exiting
    if (failure) throw new Error(failure)
    const calls = api.calls.filter((c) => c.at >= started)
    const modify = calls.find((c) => c.action === 'ModifyListener')
    if (!modify) throw new Error('the rollback made no ModifyListener call')
    if (api === recorder) apiSequences.push(calls.map((c) => c.action))
    return {
      production: onStandby - started,
      exit: exited.exitedAt - started,
      firstCall: calls[0].at - started,
      modify: modify.at - started,
    }
  }

  const partition = await silentServer()
  try {
    const samples = await measureTimings(
      [
        { name: names.node, run: () => timed(node, ['-e', '0']) },
        { name: names.help, run: () => timed(node, [cli.bin, 'rollback', '--help'], { env: stack.env }) },
        {
          name: names.sdk,
          run: () =>
            timed(node, [
              '--input-type=module',
              '-e',
              "await import('@aws-sdk/client-elastic-load-balancing-v2')",
            ]),
        },
        { name: names.rollback, run: () => timedRollback(recorder, rollbackEnv) },
        { name: names.distant, run: () => timedRollback(distantApi, distantEnv) },
        {
          name: names.partitioned,
          async run() {
            // The database accepts connections and never answers (a network partition): the
            // rollback gives it --journal-timeout (1 s) and switches without it.
            const standby = otherPool(await livePool())
            await restoreStandby(stack.databaseUrl, standby)
            const stateDir = await mkdtemp(join(tmpdir(), 'bluegreen-bench-partitioned-'))
            const started = performance.now()
            let failure: string | undefined
            const exiting = runProcess(node, [cli.bin, 'rollback', '--plan', e2ePlan, '--yes'], {
              env: { ...rollbackEnv, DATABASE_URL: partition.url, BLUEGREEN_STATE_DIR: stateDir },
            }).then((exited) => {
              if (exited.code !== 0)
                failure = `partitioned rollback exited with ${exited.code}:\n${exited.stderr}`
              return exited
            })
            try {
              const onStandby = await pollProduction(productionUrl, (a) => a.pool === standby, {
                giveUp: () => failure,
              })
              const exited = await exiting
              if (failure) throw new Error(failure)
              // Untimed: the journal learns it as the spool's next reader would.
              await restoreStandby(stack.databaseUrl, otherPool(standby), standby)
              return { production: onStandby - started, exit: exited.exitedAt - started }
            } finally {
              await rm(stateDir, { recursive: true, force: true })
            }
          },
        },
        {
          name: names.redeploy,
          async run() {
            // The live pool gets the standby pool's (older) version through the plan's deploy step.
            const live = await livePool()
            const [oldVersion, current] = [app.versionOf(otherPool(live)), app.versionOf(live)]
            const started = performance.now()
            const [command, args] = deployCommand(plan, live, oldVersion)
            const deployed = await runProcess(command, args, { cwd: e2ePlanDir, env: stack.env })
            if (deployed.code !== 0) throw new Error(`deploy step failed: ${deployed.stderr}`)
            // As the deploy phase waits: every target of the pool healthy in the load balancer.
            await lb.waitHealthy(live, { timeoutMs: 20_000, intervalMs: 500 })
            const healthy = performance.now()
            const answered = await pollProduction(productionUrl, (a) => a.version === oldVersion)
            await deployDirect(stackEnv.BLUEGREEN_DEMO_CONTROL, live, current)
            return {
              production: answered - started,
              deploy: deployed.exitedAt - started,
              health: healthy - deployed.exitedAt,
            }
          },
        },
        {
          name: names.replace,
          async run() {
            // A deploy that replaces the pool's processes (an ECS service, an auto-scaling group):
            // new targets on the old version are registered, must pass the load balancer's health
            // checks, and only then are the current ones deregistered.
            const live = await livePool()
            const oldVersion = app.versionOf(otherPool(live))
            const current = app.servers
              .filter((s) => s.pool === live)
              .map((s) => ({ Id: '127.0.0.1', Port: s.port }))
            const started = performance.now()
            const fresh: TestApp[] = await Promise.all(
              current.map(() => startTestApp({ pool: live, version: oldVersion })),
            )
            const freshTargets = fresh.map((a) => ({ Id: '127.0.0.1', Port: a.port }))
            try {
              await elbv2.send(
                new sdk.RegisterTargetsCommand({ TargetGroupArn: targetGroup(live), Targets: freshTargets }),
              )
              await lb.waitHealthy(live, { timeoutMs: 20_000, intervalMs: 500 })
              const healthy = performance.now()
              await elbv2.send(
                new sdk.DeregisterTargetsCommand({ TargetGroupArn: targetGroup(live), Targets: current }),
              )
              const answered = await pollProduction(productionUrl, (a) => a.version === oldVersion)
              // Untimed: put the pool's own targets back.
              await elbv2.send(
                new sdk.RegisterTargetsCommand({ TargetGroupArn: targetGroup(live), Targets: current }),
              )
              await lb.waitHealthy(live, { timeoutMs: 20_000, intervalMs: 50 })
              return { production: answered - started, health: healthy - started }
            } finally {
              await elbv2
                .send(
                  new sdk.DeregisterTargetsCommand({
                    TargetGroupArn: targetGroup(live),
                    Targets: freshTargets,
                  }),
                )
                .catch(() => {})
              await Promise.all(fresh.map((a) => a.close()))
            }
          },
        },
      ],
      { runs, warmup: 2, onRun: () => process.stdout.write('.') },
    )
    process.stdout.write('\n')
    const profiled = await profiledRollback()
    return report(samples, runs, plan, apiSequences, profiled)
  } finally {
    elbv2.destroy()
    await lb.close()
    await recorder.close()
    await distantApi.close()
    await distantDb.close()
    await partition.close()
  }
}

async function deployDirect(control: string, pool: PoolName, version: string): Promise<void> {
  const response = await fetch(control, { method: 'POST', body: JSON.stringify({ pool, version }) })
  // The demo servers answer as the new version at once.
  if (!response.ok) throw new Error(`could not put ${pool} back on ${version}: ${response.status}`)
}

function report(
  samples: Map<string, Map<string, number[]>>,
  runs: number,
  plan: Awaited<ReturnType<typeof readPlan>>,
  apiSequences: string[][],
  profiled: Profiled,
): Section {
  const get = (c: string, t: string, label?: string): Stats => timingStats(samples, c, t, label)
  const base = get(names.node, 'total')
  const toStandby = get(names.rollback, 'production', 'rollback → production answers from standby')
  const toExit = get(names.rollback, 'exit', 'rollback → command exit (confirmed)')
  const partitioned = get(
    names.partitioned,
    'production',
    'rollback, database partitioned → production on standby',
  )
  const distant = get(
    names.distant,
    'production',
    `rollback, ELBv2 ${awsDelayMs} ms and PostgreSQL ${dbDelayMs} ms away → production on standby`,
  )
  const redeploy = get(names.redeploy, 'production', 're-deploy via deploy step → old version')
  const replace = get(names.replace, 'production', 're-deploy replacing targets → old version')
  const help = get(names.help, 'total')
  const sdk = get(names.sdk, 'total')
  const table = formatTable(
    [base, help, sdk, toStandby, toExit, distant, partitioned, redeploy, replace],
    names.node,
  )
  const med = (c: string, t: string) => stats('', samples.get(c)!.get(t)!).median
  const firstCall = med(names.rollback, 'firstCall')
  const modify = med(names.rollback, 'modify')
  const ratio = toStandby.median / base.median
  const within = ratio <= 4
  const breakdown = markdownTable([
    ['from the start of `bluegreen rollback` to…', 'median', 'of which'],
    [
      'its first ELBv2 API call',
      fmtMs(firstCall),
      `Node start-up (\`node -e 0\`: ${fmtMs(base.median)}; rollback skips oclif, whose start-up ` +
        `\`rollback --help\` shows: ${fmtMs(help.median)}), plan load, then side by side the AWS SDK load ` +
        `(a bare \`import\` of the ELBv2 client: ${fmtMs(sdk.median - base.median)} over \`node -e 0\`) and ` +
        'the PostgreSQL journal and lock connections',
    ],
    [
      'its ModifyListener call',
      fmtMs(modify),
      `${fmtMs(modify - firstCall)} of preflight: live pool, standby health (DescribeTargetHealth), with the journal read alongside`,
    ],
    [
      'production answering from the standby pool',
      fmtMs(toStandby.median),
      'the emulator applies the change at once',
    ],
    [
      'the command’s exit',
      fmtMs(toExit.median),
      `journal entry, then confirmation through the plan’s verify: interval ${plan.verify.interval}, ` +
        `versionSeen ${plan.verify.versionSeen} (≥ ${plan.verify.versionSeen - 1} intervals after the switch), then exit`,
    ],
  ])
  const redeployParts = markdownTable([
    ['re-deploy via the plan’s deploy step', 'median'],
    ['deploy command (spawn to exit)', fmtMs(med(names.redeploy, 'deploy'))],
    ['then every target of the pool healthy in the load balancer', fmtMs(med(names.redeploy, 'health'))],
    ['start → production answers the old version', fmtMs(redeploy.median)],
  ])
  const sequence = apiSequences.at(-1)?.join(' → ') ?? ''
  const { summary } = profiled
  const cpuRows = summary.groups
    .filter((g) => g.beforeMs >= 1 || g.afterMs >= 1)
    .map((g) => [g.group, fmtMs(g.beforeMs), fmtMs(g.afterMs), fmtMs(g.firstAtMs)])
  const busyBefore = summary.groups
    .filter((g) => g.group !== idleGroup)
    .reduce((sum, g) => sum + g.beforeMs, 0)
  const profileTable = markdownTable([
    ['where the time went (one profiled rollback)', 'before ModifyListener', 'after', 'first seen at'],
    ['Node starting up, before the profile starts', fmtMs(summary.startAtMs), '', '0 ms'],
    ...cpuRows,
  ])
  console.log(`rollback, ${runs} interleaved runs each\n\n${table}\n`)
  // Issue 20's goal is 3.5×; issue 12's, 4×.
  const goal = ratio <= 3.5 ? 'within 3.5×' : within ? 'within 4×, NOT within 3.5×' : 'NOT within 4×'
  const verdict =
    ratio <= 3.5
      ? `${goal} (${ratio.toFixed(2)}×)`
      : `${goal}: ${ratio.toFixed(2)}× (${fmtMs(toStandby.median)} against ${fmtMs(base.median)}); ` +
        `${fmtMs(firstCall)} of it passes before the first AWS call`
  return {
    title: 'Rollback',
    body: [
      `From the start of \`bluegreen rollback --plan test/fixtures/e2e/plan.yaml --yes\` (the built CLI as a child ` +
        'process, on the local stack after a release: ELBv2 emulator, demo app pools, PostgreSQL journal) until ' +
        'production answers from the standby pool: the bench polls the emulator’s listener (`/version`, a fresh ' +
        'connection every 5 ms) and stops at the first answer whose `pool` is the standby pool. Each rollback goes the ' +
        `other way from the last (green → blue → green …). ${runs} interleaved runs of each case after 2 untimed rounds.`,
      '',
      `**Across a network** (${fmtMs(distant.median)} to production): the same rollback, with each ELBv2 call held ` +
        `${awsDelayMs} ms before it reaches the emulator (a laptop or CI runner calling a region) and every packet to ` +
        `and from PostgreSQL held ${dbDelayMs} ms each way (bench/lib/latency-proxy.ts): what the order of the ` +
        'reads costs when each one waits on a network, which on the local stack it hardly does.',
      '',
      'The alternatives users have without a standby pool, measured the same way (until production answers with ' +
        'the old version):',
      '',
      '- **re-deploy (deploy step)**: the plan’s own deploy command (`node plans/demo/deploy.mjs <live pool> ' +
        '<old version>`, from the plan’s directory, with the plan’s environment) run for the *live* pool with the ' +
        'standby pool’s version, then, as the deploy phase does, waiting until every target of that pool is healthy ' +
        'in the load balancer (the adapter’s `waitHealthy`, polling every 500 ms, first poll at once), then until ' +
        'production answers the old version. The demo’s deploy step only tells the running demo servers to answer ' +
        'as another version: no process restarts and no health check is failed, so this is the floor of any real ' +
        're-deploy, not a typical one.',
      '- **re-deploy (replace targets)**: what a real deploy does to a pool (an ECS service, an auto-scaling ' +
        'group): two new app servers on the old version start, are registered in the live pool’s target group ' +
        '(RegisterTargets), must pass the emulator’s health checks (interval 200 ms, healthy threshold 2; the ' +
        'bench waits with `waitHealthy` polling every 500 ms, as the deploy phase does), and then the current ' +
        'targets are deregistered. On AWS, health checks run every 5–300 s (default 30 s, threshold 5), so this ' +
        'wait alone is minutes there; the rollback never waits for a health check, the standby pool is already healthy.',
      '',
      'Both re-deploys are timed from the bench process, where the AWS SDK is already loaded (in their favour).',
      'The CLI reaches the emulator through a pass-through that notes when each API call arrives (for the breakdown).',
      '',
      codeBlock(table),
      '',
      `**Rollback to production answering from the standby pool: ${fmtMs(toStandby.median)}, ` +
        `${ratio.toFixed(2)}× \`node -e 0\` — ${verdict}.**`,
      '',
      breakdown,
      '',
      `ELBv2 calls of one rollback: ${sequence}.`,
      '',
      `One more rollback, run under \`node --cpu-prof\` (which slows it a little; not part of the medians): ` +
        `ModifyListener at ${fmtMs(profiled.modifyAt)}, production on the standby pool at ` +
        `${fmtMs(profiled.productionAt)}, exit at ${fmtMs(profiled.exitAt)}. Each CPU sample is charged to the ` +
        'package whose code was running (module loading included; the bundle mapped back through its source ' +
        'maps), and each package to the dependency of ' +
        `bluegreen that brings it in (package-lock.json). Before the switch: ${fmtMs(summary.startAtMs)} of Node ` +
        `start-up, ${fmtMs(busyBefore)} on the CPU, the rest waiting.`,
      '',
      profileTable,
      '',
      redeployParts,
    ].join('\n'),
    headline: [
      `rollback → production on the standby pool: ${fmtMs(toStandby.median)} = ${times(toStandby.median, base.median)} ` +
        `\`node -e 0\` of Node ${process.versions.node} (${goal}); command exit after confirmation ${fmtMs(toExit.median)}; ` +
        `re-deploy via the deploy step ${fmtMs(redeploy.median)}, re-deploy replacing targets ${fmtMs(replace.median)}; ` +
        `with ELBv2 ${awsDelayMs} ms and PostgreSQL ${dbDelayMs} ms away ${fmtMs(distant.median)}`,
      `rollback with the database partitioned → production on the standby pool: ${fmtMs(partitioned.median)} ` +
        `(${partitioned.median <= 2000 ? 'within' : 'NOT within'} 2 s; the journal gets --journal-timeout, 1 s)`,
    ],
  }
}

if (isMain(import.meta.url)) {
  await withCleanup(async (cleanup) => {
    console.log('building the CLI and starting PostgreSQL and the local stack…')
    const cli = await buildCli()
    cleanup.add('the CLI build', () => cli.remove())
    const server = await startPostgres()
    cleanup.add(`PostgreSQL (pid ${server.pid})`, () => server.stop())
    const stack = await startBenchStack(server.url, 'rollback')
    cleanup.add('the local stack', () => stack.close())
    await release(cli, stack, '2.0.0')
    const section = await rollbackBench({ cli, stack, runs: numberFlag('runs', 12) })
    console.log(section.body)
    // bench/run.ts runs this file on another Node and takes the section from here.
    const out = process.argv.indexOf('--section-json')
    if (out !== -1) await writeFile(process.argv[out + 1], JSON.stringify(section))
  })
}

/**
 * Journal set-up between runs: `standby` is the known-good rollback target again, and the other
 * pool live (or, with `live`, that pool live: after a switch the journal did not see).
 */
async function restoreStandby(databaseUrl: string, standby: PoolName, live?: PoolName): Promise<void> {
  const { withClient } = await import('../src/db/client.js')
  await withClient(databaseUrl, (client) =>
    client.query(
      `UPDATE bluegreen.pools SET standing = CASE WHEN pool = $2 THEN 'standby' ELSE 'live' END, until = NULL,
         since = now() WHERE app = $1`,
      ['shop', live ? otherPool(live) : standby],
    ),
  )
}

/** A "database" that accepts connections and never answers, as behind a network partition. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer } = await import('node:net')
  const sockets = new Set<import('node:net').Socket>()
  const server = createServer((socket) => void sockets.add(socket))
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as import('node:net').AddressInfo
  return {
    url: `postgres://bench@127.0.0.1:${port}/bench`,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((done) => server.close(done))
    },
  }
}
