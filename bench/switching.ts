/**
 * Switching under load, for each adapter against a real load balancer process: the ELBv2 emulator
 * (`bluegreen local alb`, its own process, through the real AWS SDK), HAProxy (runtime API) and
 * nginx (upstream file + reload). Two app servers per pool on 127.0.0.1; a keep-alive load client
 * (test/support/load.ts, 8 connections, no retries) sends GETs throughout 20 shifts alternating
 * between the pools (10 switches, 10 switches back). Baseline: the same load, for as long, with no
 * switching, right after. Failed requests and p99 latency of each, and the p99 ratio.
 *
 * Then the same with stickiness on (stickySwitchingBench): sticky clients, forward switches and
 * rollbacks, and which pool answers after each.
 *
 *   npx tsx bench/switching.ts [--shifts 20] [--sticky-only]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { LoadBalancerConfig, Plan } from '../src/plan/schema.js'
import type { LoadBalancer, PoolName } from '../src/lb/types.js'
import { startTestApp, type TestApp } from '../test/support/http-app.js'
import { startHaproxy } from '../test/support/haproxy.js'
import { runKeepAliveLoad, type LoadReport } from '../test/support/load.js'
import { startNginx } from '../test/support/nginx.js'
import { findBinary, startProcess, waitFor } from '../test/support/process.js'
import { buildCli, type BuiltCli } from './lib/cli.js'
import { Cleanup, isMain, numberFlag, sleep, withCleanup } from './lib/main.js'
import { stats } from './lib/measure.js'
import { codeBlock, fmtMs, markdownTable, type Section } from './lib/report.js'

export interface SwitchingOptions {
  cli: BuiltCli
  /** Where the load balancer processes are registered, so Ctrl-C stops them too. */
  cleanup: Cleanup
  /** Shifts per adapter, alternating (default 20). */
  shifts: number
}

interface Apps {
  blue: TestApp[]
  green: TestApp[]
}

interface Fixture {
  lb: LoadBalancer
  trafficUrl: string
  /** How the load balancer runs, for the report. */
  what: string
}

type Adapter = 'aws-elbv2' | 'haproxy' | 'nginx'

interface AdapterResult {
  adapter: Adapter
  what: string
  switching: LoadReport
  baseline: LoadReport
  windowMs: number
  shiftMs: number[]
}

const gapMs = 250
const concurrency = 8
const stickySeconds = 3600

export async function switchingBench({ cli, cleanup: outer, shifts }: SwitchingOptions): Promise<Section> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const results: AdapterResult[] = []
  const skipped: string[] = []
  for (const adapter of ['aws-elbv2', 'haproxy', 'nginx'] as const) {
    if (adapter !== 'aws-elbv2' && !findBinary(adapter)) {
      skipped.push(`${adapter}: not installed, not measured`)
      continue
    }
    const cleanup = outer.child(`the ${adapter} fixture`)
    try {
      const apps = await startApps()
      cleanup.add('app servers', async () => {
        await Promise.all([...apps.blue, ...apps.green].map((a) => a.close()))
      })
      const fixture = await start(adapter, apps, cli, cleanup)
      cleanup.add(`${adapter} adapter`, () => fixture.lb.close())
      results.push(await underLoad(adapter, fixture, shifts))
    } finally {
      await cleanup.run()
    }
  }
  return report(results, skipped, shifts)
}

async function startApps(): Promise<Apps> {
  const start = (pool: string, version: string) =>
    Promise.all([1, 2].map(() => startTestApp({ pool, version })))
  const [blue, green] = await Promise.all([start('blue', '1.0.0'), start('green', '1.1.0')])
  return { blue, green }
}

async function start(
  adapter: Adapter,
  apps: Apps,
  cli: BuiltCli,
  cleanup: Cleanup,
  sticky = false,
): Promise<Fixture> {
  const { createLoadBalancer } = await import('../src/lb/index.js')
  const create = (config: LoadBalancerConfig, pools: Plan['pools']) => createLoadBalancer(config, pools)
  switch (adapter) {
    case 'aws-elbv2': {
      const emulator = await startEmulatorProcess(apps, cli, cleanup, sticky)
      const arn = (name: string) => emulator.targetGroups.find((t) => t.name === name)!.arn
      const lb = await create(
        {
          provider: 'aws-elbv2',
          region: emulator.region,
          listenerArn: emulator.listeners[0].arn,
          endpoint: emulator.endpoint,
          // Forward switches keep (or turn back on) group stickiness; a rollback turns it off.
          ...(sticky ? { stickiness: { duration: `${stickySeconds}s` } } : {}),
        },
        { blue: { targetGroupArn: arn('shop-blue') }, green: { targetGroupArn: arn('shop-green') } },
      )
      return {
        lb,
        trafficUrl: `${emulator.listeners[0].url}/`,
        what: sticky
          ? `\`bluegreen local alb\`, group stickiness on (TargetGroupStickinessConfig, ${stickySeconds} s, the AWSALBTG cookie); the adapter with \`loadBalancer.stickiness\`, so a forward switch keeps stickiness on and a rollback turns it off in the same ModifyListener`
          : '`bluegreen local alb` (its own process), through the AWS SDK: DescribeListeners, ModifyListener, DescribeListeners (read back) per shift',
      }
    }
    case 'haproxy': {
      const haproxy = await startHaproxy({
        apps,
        live: 'blue',
        ...(sticky ? { sticky: 'cookie' as const } : {}),
      })
      cleanup.add(`haproxy (pid ${haproxy.process().pid})`, () => haproxy.stop())
      return {
        lb: await create(haproxy.config, haproxy.pools),
        trafficUrl: haproxy.trafficUrl,
        what: sticky
          ? 'HAProxy with cookie persistence (`cookie SRV insert indirect nocache`, a cookie per server): weights for a forward switch; a rollback also puts the old pool in maintenance (HAProxy serves a persistent client at weight 0), and the deploy before the next forward switch sets it ready'
          : 'HAProxy, runtime API over a unix socket (set server weight, no reload)',
      }
    }
    case 'nginx': {
      const nginx = await startNginx({ apps, live: 'blue' })
      cleanup.add(`nginx (pid ${nginx.pid})`, () => nginx.stop())
      return {
        lb: await create(nginx.config, nginx.pools),
        trafficUrl: nginx.trafficUrl,
        what: 'nginx, upstream file rewritten + `nginx -t` + `nginx -s reload` per shift',
      }
    }
  }
}

interface EmulatorReady {
  endpoint: string
  region: string
  listeners: { url: string; arn: string }[]
  targetGroups: { name: string; arn: string }[]
}

/** `bluegreen local alb` as its own process, stopped by PID; resolves with what it printed. */
async function startEmulatorProcess(
  apps: Apps,
  cli: BuiltCli,
  cleanup: Cleanup,
  sticky: boolean,
): Promise<EmulatorReady> {
  const dir = await mkdtemp(join(tmpdir(), 'bluegreen-bench-alb-'))
  cleanup.add('emulator config', () => rm(dir, { recursive: true, force: true }))
  const healthCheck = {
    path: '/healthz',
    interval: '200ms',
    timeout: '500ms',
    healthyThreshold: 2,
    unhealthyThreshold: 2,
  }
  const targets = (list: TestApp[]) => list.map((a) => `${a.address}:${a.port}`)
  const config = {
    region: 'eu-west-1',
    fastHealthChecks: true,
    loadBalancer: { name: 'shop' },
    targetGroups: [
      { name: 'shop-blue', targetType: 'ip', healthCheck, targets: targets(apps.blue) },
      { name: 'shop-green', targetType: 'ip', healthCheck, targets: targets(apps.green) },
    ],
    listeners: [
      {
        port: 0,
        defaultAction: {
          forward: [
            { targetGroup: 'shop-blue', weight: 100 },
            { targetGroup: 'shop-green', weight: 0 },
          ],
          ...(sticky ? { stickiness: { durationSeconds: stickySeconds } } : {}),
        },
      },
    ],
  }
  const file = join(dir, 'alb.json')
  await writeFile(file, JSON.stringify(config))
  const started = startProcess(process.execPath, [
    cli.bin,
    'local',
    'alb',
    '--config',
    file,
    '--port',
    '0',
    '--json',
  ])
  cleanup.add(`the emulator (pid ${started.pid})`, () => started.stop())
  let ready: EmulatorReady | undefined
  await waitFor(
    () => {
      if (started.child.exitCode !== null) throw new Error(`the emulator exited: ${started.output()}`)
      const line = started
        .output()
        .split('\n')
        .find((l) => l.startsWith('{'))
      if (line) ready = JSON.parse(line) as EmulatorReady
      return ready !== undefined
    },
    15_000,
    'the emulator to print its endpoint',
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n${started.output()}`)
  })
  return ready!
}

async function underLoad(adapter: Adapter, fixture: Fixture, shifts: number): Promise<AdapterResult> {
  const { lb, trafficUrl } = fixture
  for (const pool of ['blue', 'green'] as const)
    await lb.waitHealthy(pool, { timeoutMs: 15_000, intervalMs: 100 })
  // Warm-up: connections opened, code paths compiled.
  await runKeepAliveLoad(trafficUrl, { until: sleep(500), concurrency })

  const shiftMs: number[] = []
  const switching = (async () => {
    await sleep(200)
    for (let i = 0; i < shifts; i++) {
      const to: PoolName = i % 2 === 0 ? 'green' : 'blue'
      const started = performance.now()
      const result = await lb.shift(to)
      shiftMs.push(performance.now() - started)
      if (!result.changed || result.after.live !== to)
        throw new Error(`${adapter}: shift to ${to} did not happen`)
      await sleep(gapMs)
    }
  })()
  const windowStart = performance.now()
  const during = await runKeepAliveLoad(trafficUrl, { until: switching, concurrency })
  await switching
  const windowMs = performance.now() - windowStart
  const baseline = await runKeepAliveLoad(trafficUrl, { until: sleep(windowMs), concurrency })
  if (!((during.byPool.blue ?? 0) > 0 && (during.byPool.green ?? 0) > 0)) {
    throw new Error(
      `${adapter}: production never answered from both pools (${JSON.stringify(during.byPool)})`,
    )
  }
  const line =
    `${adapter}: ${shifts} shifts under load: sent ${during.sent}, failed ${during.failed}, p99 ${during.p99Ms} ms; ` +
    `baseline: sent ${baseline.sent}, failed ${baseline.failed}, p99 ${baseline.p99Ms} ms`
  console.log(line + (during.errors.length > 0 ? `\n  errors: ${during.errors.join('; ')}` : ''))
  return { adapter, what: fixture.what, switching: during, baseline, windowMs, shiftMs }
}

function report(results: AdapterResult[], skipped: string[], shifts: number): Section {
  const rows = results.map((r) => [
    r.adapter,
    String(r.switching.sent),
    `**${r.switching.failed}**`,
    `${r.switching.p99Ms} ms`,
    `${r.baseline.sent} / ${r.baseline.failed}`,
    `${r.baseline.p99Ms} ms`,
    r.baseline.p99Ms > 0 ? `${(r.switching.p99Ms / r.baseline.p99Ms).toFixed(2)}×` : 'n/a',
    fmtMs(stats('', r.shiftMs).median),
  ])
  const table = markdownTable([
    [
      'adapter',
      `requests during ${shifts} shifts`,
      'failed',
      'p99',
      'baseline requests / failed',
      'baseline p99',
      'p99 ratio',
      'median shift',
    ],
    ...rows,
  ])
  const errors = results
    .filter((r) => r.switching.errors.length > 0 || r.baseline.errors.length > 0)
    .map(
      (r) =>
        `${r.adapter}: ${[...r.switching.errors, ...r.baseline.errors.map((e) => `${e} (baseline)`)].join('; ')}`,
    )
  const how = results.map((r) => `- **${r.adapter}**: ${r.what}; window ${fmtMs(r.windowMs)}.`)
  return {
    title: 'Switching under load',
    body: [
      `Each adapter (the real one from src/lb/) against a real load balancer process, two app servers per pool on ` +
        `127.0.0.1, and a keep-alive load client (test/support/load.ts: ${concurrency} connections sending GETs back ` +
        `to back, no retries; a request that races a closed connection is a failure). ${shifts} shifts alternating ` +
        `between the pools (${shifts / 2} switches, ${shifts / 2} switches back), ${gapMs} ms apart, while the load ` +
        'runs; then the baseline: the same load for as long, with no switching. After a 0.5 s untimed warm-up.',
      '',
      ...how,
      '',
      table,
      '',
      errors.length > 0 ? codeBlock(`failures:\n${errors.join('\n')}`) : 'No request failed.',
      ...(skipped.length > 0 ? ['', ...skipped.map((s) => `- ${s}`)] : []),
    ].join('\n'),
    headline: [
      `switching under load (${shifts} shifts): ` +
        results
          .map(
            (r) =>
              `${r.adapter} ${r.switching.failed} failed of ${r.switching.sent}, p99 ${r.switching.p99Ms} ms vs ${r.baseline.p99Ms} ms`,
          )
          .join('; '),
    ],
  }
}

interface StickyResult {
  adapter: Adapter
  what: string
  load: LoadReport
  /** Answers to requests sent after a forward switch returned (until the next shift): all, and those from the pool traffic left. */
  forward: { answers: number; old: number }
  /** The same after each rollback. */
  rollback: { answers: number; old: number }
  shiftMs: number[]
}

/**
 * Switching with stickiness on, for the adapters whose load balancer keeps clients on a pool
 * across a weight change (ELBv2 group stickiness, HAProxy cookie persistence). Every load
 * connection keeps its cookies, as a browser does, so each is a sticky client. Shifts alternate:
 * a forward switch to green (`stickyClients: 'stay'`, what the switch phase asks; before it, the
 * pool's health is awaited as the deploy phase does), then a rollback to blue (`move`). Counted:
 * failed requests, and which pool answered the requests sent after each shift returned.
 */
export async function stickySwitchingBench({
  cli,
  cleanup: outer,
  shifts,
}: SwitchingOptions): Promise<Section> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const results: StickyResult[] = []
  const skipped: string[] = [
    'nginx: open-source nginx keeps no client on a pool across a switch (its `sticky` is NGINX Plus; ' +
      "`hash` and `ip_hash` choose among the upstream's servers, and the adapter marks the old pool's down), so every switch moves every client: " +
      'nothing to measure beyond the section above',
  ]
  for (const adapter of ['aws-elbv2', 'haproxy'] as const) {
    if (adapter !== 'aws-elbv2' && !findBinary(adapter)) {
      skipped.push(`${adapter}: not installed, not measured`)
      continue
    }
    const cleanup = outer.child(`the sticky ${adapter} fixture`)
    try {
      const apps = await startApps()
      cleanup.add('app servers', async () => {
        await Promise.all([...apps.blue, ...apps.green].map((a) => a.close()))
      })
      const fixture = await start(adapter, apps, cli, cleanup, true)
      cleanup.add(`${adapter} adapter`, () => fixture.lb.close())
      results.push(await stickyUnderLoad(adapter, fixture, shifts))
    } finally {
      await cleanup.run()
    }
  }
  return stickyReport(results, skipped, shifts)
}

async function stickyUnderLoad(adapter: Adapter, fixture: Fixture, shifts: number): Promise<StickyResult> {
  const { lb, trafficUrl } = fixture
  const healthy = (pool: PoolName) => lb.waitHealthy(pool, { timeoutMs: 15_000, intervalMs: 100 })
  await healthy('blue')
  await healthy('green')
  await runKeepAliveLoad(trafficUrl, { until: sleep(500), concurrency, cookies: true })
  // Each shift's window: from when it returned until the next one starts.
  const windows: { kind: 'forward' | 'rollback'; old: PoolName; from: number; to: number }[] = []
  const shiftMs: number[] = []
  const switching = (async () => {
    await sleep(200)
    for (let i = 0; i < shifts; i++) {
      const forward = i % 2 === 0
      const to: PoolName = forward ? 'green' : 'blue'
      if (forward) await healthy(to)
      const started = performance.now()
      if (windows.length > 0) windows[windows.length - 1].to = started
      const result = await lb.shift(to, 100, { stickyClients: forward ? 'stay' : 'move' })
      const done = performance.now()
      shiftMs.push(done - started)
      if (result.after.live !== to) throw new Error(`${adapter}: shift to ${to} did not happen`)
      windows.push({
        kind: forward ? 'forward' : 'rollback',
        old: forward ? 'blue' : 'green',
        from: done,
        to: Infinity,
      })
      await sleep(gapMs)
    }
    windows[windows.length - 1].to = performance.now()
  })()
  const counts = { forward: { answers: 0, old: 0 }, rollback: { answers: 0, old: 0 } }
  const load = await runKeepAliveLoad(trafficUrl, {
    until: switching,
    concurrency,
    cookies: true,
    onAnswer(sentAt, pool) {
      const window = windows.find((w) => sentAt >= w.from && sentAt < w.to)
      if (!window) return
      counts[window.kind].answers++
      if (pool === window.old) counts[window.kind].old++
    },
  })
  await switching
  console.log(
    `${adapter} (sticky): sent ${load.sent}, failed ${load.failed}; after forward switches ${counts.forward.old} of ` +
      `${counts.forward.answers} from the old pool; after rollbacks ${counts.rollback.old} of ${counts.rollback.answers}`,
  )
  return { adapter, what: fixture.what, load, ...counts, shiftMs }
}

function stickyReport(results: StickyResult[], skipped: string[], shifts: number): Section {
  const share = (c: { answers: number; old: number }) =>
    `${c.old} of ${c.answers}${c.answers > 0 ? ` (${((100 * c.old) / c.answers).toFixed(0)}%)` : ''}`
  const table = markdownTable([
    [
      'adapter',
      'requests',
      'failed',
      'p99',
      'after forward switches: answered by the old pool (stickiness kept)',
      'after rollbacks: answered by the old pool (goal 0)',
      'median shift',
    ],
    ...results.map((r) => [
      r.adapter,
      String(r.load.sent),
      `**${r.load.failed}**`,
      `${r.load.p99Ms} ms`,
      share(r.forward),
      `**${share(r.rollback)}**`,
      fmtMs(stats('', r.shiftMs).median),
    ]),
  ])
  const errors = results
    .filter((r) => r.load.errors.length > 0)
    .map((r) => `${r.adapter}: ${r.load.errors.join('; ')}`)
  return {
    title: 'Switching under load with stickiness on',
    body: [
      `The same load (${concurrency} keep-alive connections, no retries), but each connection keeps the cookies it is ` +
        'given and sends them back, as a browser does: 8 sticky clients. ' +
        `${shifts} shifts, ${gapMs} ms apart: a forward switch to green (\`stickyClients: 'stay'\`, as the switch ` +
        'phase asks; before each, the wait for the pool to be healthy that the deploy phase does, not timed), then a ' +
        "rollback to blue (`'move'`, as `bluegreen rollback` asks). Counted by when each request was sent: the answers " +
        'to requests sent after a shift returned and before the next began, and how many came from the pool traffic left.',
      '',
      ...results.map((r) => `- **${r.adapter}**: ${r.what}.`),
      '',
      table,
      '',
      errors.length > 0 ? codeBlock(`failures:\n${errors.join('\n')}`) : 'No request failed.',
      ...(skipped.length > 0 ? ['', ...skipped.map((line) => `- ${line}`)] : []),
    ].join('\n'),
    headline: [
      `switching under load with stickiness on (${shifts} shifts, 8 sticky clients): ` +
        results
          .map(
            (r) =>
              `${r.adapter} ${r.load.failed} failed of ${r.load.sent}, after rollbacks ${r.rollback.old} answers from the old pool ` +
              `(after forward switches ${share(r.forward)}, stickiness kept)`,
          )
          .join('; '),
    ],
  }
}

if (isMain(import.meta.url)) {
  await withCleanup(async (cleanup) => {
    const cli = await buildCli()
    cleanup.add('the CLI build', () => cli.remove())
    const options = { cli, cleanup, shifts: numberFlag('shifts', 20) }
    if (!process.argv.includes('--sticky-only')) console.log(`\n${(await switchingBench(options)).body}`)
    const sticky = await stickySwitchingBench(options)
    console.log(`\n${sticky.body}\n\n${sticky.headline.join('\n')}`)
  })
}
