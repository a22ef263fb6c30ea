/**
 * How fast is `bluegreen lint` against Squawk (the squawk-cli dev dependency), in one run, cases
 * interleaved: 1,000 generated migration files, one file of 10,000 statements, and a tiny file
 * (which also runs against `node -e 0`, the floor of any Node CLI). All print JSON. The files are
 * the linter's own fixtures (test/fixtures/sql/lint), dealt out in rotation.
 *
 * Squawk runs two ways: its native binary itself (@squawk-cli/<platform>/bin/squawk), and the
 * `squawk` command npm installs, a Node script that spawns that binary — what `npx squawk` and a
 * package.json script run, and what the issue's own figures were taken with. A Node CLI pays
 * `node -e 0` before its first line, so against the bare binary the ratios are the larger ones.
 *
 *   npx tsx bench/lint.ts [--runs 7]
 *
 * Goals (issue 19): within 2× Squawk on the 1,000 files, no slower on the big file, and the tiny
 * file within 3× `node -e 0`.
 */
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { buildCli, cliEnv, repoRoot, type BuiltCli } from './lib/cli.js'
import { formatTable, measure, processCase, type Stats } from './lib/measure.js'
import { isMain, numberFlag, withCleanup } from './lib/main.js'
import { codeBlock, fmtMs, times, type Section } from './lib/report.js'

export interface LintBenchOptions {
  cli: BuiltCli
  runs: number
}

export async function lintBench({ cli, runs }: LintBenchOptions): Promise<Section> {
  const dir = await mkdtemp(join(tmpdir(), 'bluegreen-bench-lint-'))
  try {
    const corpus = await writeCorpus(dir)
    const node = process.execPath
    const squawkShim = join(repoRoot, 'node_modules/.bin/squawk')
    const squawk = squawkBinary()
    const env = { env: cliEnv() }
    // Both exit 1 (or more) when they find something: findings are what the corpus is for.
    const found = { ...env, expectExit: [0, 1, 2, 3] }
    const lint = (path: string) => [cli.bin, 'lint', path, '--format', 'json']
    const results = await measure(
      [
        processCase('node -e 0', node, ['-e', '0'], env),
        processCase('bluegreen lint tiny.sql', node, lint(corpus.tiny), found),
        processCase('squawk tiny.sql', squawk, ['--reporter', 'json', corpus.tiny], found),
        processCase('npm squawk tiny.sql', squawkShim, ['--reporter', 'json', corpus.tiny], found),
        processCase('bluegreen lint 1,000 files', node, lint(corpus.many), found),
        processCase('squawk 1,000 files', squawk, ['--reporter', 'json', join(corpus.many, '*.sql')], found),
        processCase(
          'npm squawk 1,000 files',
          squawkShim,
          ['--reporter', 'json', join(corpus.many, '*.sql')],
          found,
        ),
        processCase('bluegreen lint 10,000 statements', node, lint(corpus.big), found),
        processCase('squawk 10,000 statements', squawk, ['--reporter', 'json', corpus.big], found),
        processCase('npm squawk 10,000 statements', squawkShim, ['--reporter', 'json', corpus.big], found),
      ],
      { runs, warmup: 1 },
    )
    const table = formatTable(results, 'node -e 0')
    console.log(`lint, ${runs} interleaved runs each\n\n${table}\n`)
    const of = (name: string) => results.find((r: Stats) => r.name === name)!.median
    const ratio = (ours: string, theirs: string) => times(of(ours), of(theirs))
    // Against the native binary, then against npm's `squawk` (the goals' own baseline).
    const both = (what: string) =>
      `${ratio(`bluegreen lint ${what}`, `squawk ${what}`)} Squawk's binary, ` +
      `${ratio(`bluegreen lint ${what}`, `npm squawk ${what}`)} npm's \`squawk\``
    return {
      title: 'Lint against Squawk',
      body: [
        `\`bluegreen lint … --format json\` (the built CLI) against Squawk ${corpus.squawkVersion}'s native binary ` +
          `(\`squawk --reporter json\`, @squawk-cli/${process.platform}-${process.arch}) and through the \`squawk\` ` +
          'command npm installs with squawk-cli (“npm squawk”: a Node script that spawns that binary, what `npx squawk` ' +
          `runs), ${runs} interleaved runs each after 1 untimed round, each a fresh process. The corpus: ` +
          `${corpus.fixtures} fixtures of test/fixtures/sql/lint dealt out into ` +
          '1,000 files, the same statements repeated into one file of 10,000 statements, and a one-statement file. ' +
          'The goals were set against npm’s `squawk`; a Node CLI cannot come within 2× of the bare binary on a ' +
          'small input, since `node -e 0` alone takes longer than the binary’s whole run.',
        '',
        codeBlock(table),
      ].join('\n'),
      headline: [
        `lint: 1,000 files ${fmtMs(of('bluegreen lint 1,000 files'))} (${both('1,000 files')}; goal ≤ 2× npm's), ` +
          `10,000 statements ${fmtMs(of('bluegreen lint 10,000 statements'))} (${both('10,000 statements')}; goal ≤ 1× npm's), ` +
          `tiny file ${fmtMs(of('bluegreen lint tiny.sql'))} (${ratio('bluegreen lint tiny.sql', 'node -e 0')} \`node -e 0\`, goal ≤ 3×; ` +
          `${both('tiny.sql')})`,
      ],
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Squawk's native binary, from the platform package squawk-cli's `squawk` command spawns. */
function squawkBinary(): string {
  const name = process.platform === 'win32' ? 'squawk.exe' : 'squawk'
  return createRequire(join(repoRoot, 'node_modules/squawk-cli/package.json')).resolve(
    `@squawk-cli/${process.platform}-${process.arch}/bin/${name}`,
  )
}

/** The fixtures' statements (headers dropped), dealt into 1,000 files and one big file. */
async function writeCorpus(dir: string) {
  const root = join(repoRoot, 'test/fixtures/sql/lint')
  const fixtures: string[] = []
  for (const sub of (await readdir(root)).sort()) {
    for (const name of (await readdir(join(root, sub))).sort()) {
      const sql = await readFile(join(root, sub, name), 'utf8')
      fixtures.push(sql.replace(/^-- expect:.*\n/m, ''))
    }
  }
  const many = join(dir, 'many')
  await mkdir(many)
  for (let i = 0; i < 1000; i++)
    await writeFile(join(many, `${String(i).padStart(4, '0')}_migration.sql`), fixtures[i % fixtures.length])
  // Statements one per fixture file, counted roughly by semicolons at line ends, until 10,000.
  const parts: string[] = []
  let statements = 0
  for (let i = 0; statements < 10_000; i++) {
    const sql = fixtures[i % fixtures.length]
    parts.push(sql)
    statements += (sql.match(/;\s*$/gm) ?? []).length
  }
  const big = join(dir, 'big.sql')
  await writeFile(big, parts.join('\n'))
  const tiny = join(dir, 'tiny.sql')
  await writeFile(tiny, 'ALTER TABLE users ADD COLUMN bio text;\n')
  const { version } = JSON.parse(
    await readFile(join(repoRoot, 'node_modules/squawk-cli/package.json'), 'utf8'),
  ) as { version: string }
  return { many, big, tiny, fixtures: fixtures.length, squawkVersion: version }
}

if (isMain(import.meta.url)) {
  await withCleanup(async (cleanup) => {
    console.log('building the CLI…')
    const cli = await buildCli()
    cleanup.add('the CLI build', () => cli.remove())
    const section = await lintBench({ cli, runs: numberFlag('runs', 7) })
    console.log(section.headline.join('\n'))
  })
}
