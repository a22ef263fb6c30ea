/**
 * How fast does bluegreen start? The built CLI (`node bin/run.js`) against `node -e 0` in the same
 * run, interleaved: `--help`, `rollback --help`, `plan validate plans/demo.yaml`, and a real
 * `status` of the e2e plan against the local stack after a release (it reads the live pool and
 * the targets' health from the ELBv2 emulator through the AWS SDK, and the journal from
 * PostgreSQL). The ratio to a bare Node start is what to watch: heavy imports at start-up (AWS
 * SDK, pg, listr2) show up as a jump in it.
 *
 *   npx tsx bench/startup.ts [--runs 15]
 */
import { startPostgres } from '../test/support/postgres.js'
import { buildCli, cliEnv, type BuiltCli } from './lib/cli.js'
import { formatTable, measure, processCase } from './lib/measure.js'
import { isMain, numberFlag, withCleanup } from './lib/main.js'
import { codeBlock, fmtMs, times, type Section } from './lib/report.js'
import { e2ePlan, release, startBenchStack, type BenchStack } from './lib/stack.js'

export interface StartupOptions {
  cli: BuiltCli
  /** A local stack after one release, for `status`. */
  stack: BenchStack
  runs: number
}

export async function startupBench({ cli, stack, runs }: StartupOptions): Promise<Section> {
  const node = process.execPath
  // The demo plan's variables unset, so every run validates the same, default plan.
  const plain = { env: cliEnv() }
  const results = await measure(
    [
      processCase('node -e 0', node, ['-e', '0'], plain),
      processCase('bluegreen --help', node, [cli.bin, '--help'], plain),
      processCase('bluegreen rollback --help', node, [cli.bin, 'rollback', '--help'], plain),
      processCase('bluegreen plan validate', node, [cli.bin, 'plan', 'validate', 'plans/demo.yaml'], plain),
      processCase('bluegreen status PLAN', node, [cli.bin, 'status', e2ePlan], { env: stack.env }),
    ],
    { runs, warmup: 2 },
  )
  const table = formatTable(results, 'node -e 0')
  console.log(`start-up, ${runs} interleaved runs each\n\n${table}\n`)
  const base = results[0].median
  const of = (name: string) => results.find((r) => r.name === name)!.median
  return {
    title: 'Start-up',
    body: [
      `The built CLI (\`node bin/run.js …\`) against \`node -e 0\`, ${runs} interleaved runs each after 2 untimed rounds, ` +
        'each a fresh process from spawn to exit. `status` is a real one: the e2e plan ' +
        '(test/fixtures/e2e/plan.yaml) against the local stack after a release of 2.0.0; it reads the live pool ' +
        'and both pools’ target health from the ELBv2 emulator through the AWS SDK, and the journal from PostgreSQL.',
      '',
      codeBlock(table),
    ].join('\n'),
    headline: [
      `start-up: \`--help\` ${fmtMs(of('bluegreen --help'))} (${times(of('bluegreen --help'), base)} \`node -e 0\`), ` +
        `\`rollback --help\` ${fmtMs(of('bluegreen rollback --help'))} (${times(of('bluegreen rollback --help'), base)}), ` +
        `\`status\` ${fmtMs(of('bluegreen status PLAN'))} (${times(of('bluegreen status PLAN'), base)}); \`node -e 0\` ${fmtMs(base)}`,
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
    const stack = await startBenchStack(server.url, 'startup')
    cleanup.add('the local stack', () => stack.close())
    await release(cli, stack, '2.0.0')
    const section = await startupBench({ cli, stack, runs: numberFlag('runs', 15) })
    console.log(section.headline.join('\n'))
  })
}
