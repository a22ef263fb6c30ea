/**
 * How fast does bluegreen start? `bluegreen --help` and `bluegreen plan validate plans/demo.yaml`
 * (through `node bin/run.js`, the built CLI) against `node -e 0` in the same run, interleaved.
 * The ratio to a bare Node start is what to watch: heavy imports at start-up (AWS SDK, pg,
 * listr2) show up as a jump in it.
 *
 *   npm run build && npx tsx bench/startup.ts [--runs 20]
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatTable, measure, processCase } from './lib/measure.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const runsFlag = process.argv.indexOf('--runs')
const runs = runsFlag === -1 ? 15 : Number(process.argv[runsFlag + 1])

if (!existsSync(join(root, 'dist/commands')) || !existsSync(join(root, 'oclif.manifest.json'))) {
  console.log('dist/ is missing: building first (npm run build)')
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
}

// The demo plan's variables unset, so every run validates the same, default plan.
const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
for (const name of ['DATABASE_URL', 'BLUEGREEN_ALB_ENDPOINT', 'BLUEGREEN_DEMO_URL', 'BLUEGREEN_JSON'])
  delete env[name]
const node = process.execPath
const options = { cwd: root, env }

const results = await measure(
  [
    processCase('node -e 0', node, ['-e', '0'], options),
    processCase('bluegreen --help', node, ['bin/run.js', '--help'], options),
    processCase(
      'bluegreen plan validate',
      node,
      ['bin/run.js', 'plan', 'validate', 'plans/demo.yaml'],
      options,
    ),
  ],
  { runs, warmup: 2 },
)

console.log(
  `start-up, ${runs} interleaved runs each (node ${process.version}, ${process.platform}/${process.arch})\n`,
)
console.log(formatTable(results, 'node -e 0'))
