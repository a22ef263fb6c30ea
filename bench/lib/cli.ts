/**
 * The CLI under test, as users run it: `node bin/run.js …` from a build of the current src/.
 * The benchmarks build their own copy in a temp directory (scripts/build.ts's bundles, bin/,
 * package.json, an oclif manifest, node_modules linked) instead of using the shared dist/:
 * `npm run build` empties dist/ first, and another engineer's build halfway through a timed run
 * would fail it. The copy is the same code and the same files, so it starts the same way.
 */
import { spawn } from 'node:child_process'
import { copyFile, cp, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { bundle, bundleFastPathCjs, warmCodeCache, writeManifest } from '../../scripts/build.js'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

export interface BuiltCli {
  /** The package directory of the copy. */
  root: string
  /** Its bin/run.js: run as `node <bin> …`. */
  bin: string
  remove(): Promise<void>
}

export async function buildCli(): Promise<BuiltCli> {
  const root = await mkdtemp(join(tmpdir(), 'bluegreen-bench-cli-'))
  try {
    // The same build as `npm run build` (scripts/build.ts), into the copy.
    await bundle(join(root, 'dist'))
    await bundleFastPathCjs(join(root, 'dist'))
    await cp(join(repoRoot, 'bin'), join(root, 'bin'), { recursive: true })
    await copyFile(join(repoRoot, 'package.json'), join(root, 'package.json'))
    await symlink(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir')
    await writeManifest(root)
    await warmCodeCache(root)
  } catch (error) {
    await rm(root, { recursive: true, force: true })
    throw error
  }
  return {
    root,
    bin: join(root, 'bin/run.js'),
    remove: () => rm(root, { recursive: true, force: true }),
  }
}

/**
 * The environment the CLI runs with: this process's, less anything that would point it at
 * another database or load balancer, with plain output; then `extra`.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', CI: 'true' }
  for (const name of Object.keys(env)) {
    if (name === 'DATABASE_URL' || name.startsWith('BLUEGREEN_') || name.startsWith('AWS_')) delete env[name]
  }
  return { ...env, ...extra }
}

export interface Exited {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** performance.now() when the process had exited. */
  exitedAt: number
}

/** Starts a process and resolves when it has exited, with its output. Killed after `timeoutMs`. */
export function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<Exited> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.once('error', (error) => {
      clearTimeout(timer)
      fail(error)
    })
    child.once('exit', (code, signal) => {
      const exitedAt = performance.now()
      clearTimeout(timer)
      // Output may still be in the pipes when `exit` fires; `close` follows once they are drained.
      child.once('close', () => done({ code, signal, stdout, stderr, exitedAt }))
    })
  })
}

/** Runs `node <cli> …args` and fails with its output unless it exits 0. */
export async function bluegreen(
  cli: BuiltCli,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<Exited> {
  const result = await runProcess(process.execPath, [cli.bin, ...args], { env, timeoutMs })
  if (result.code !== 0) {
    throw new Error(
      `bluegreen ${args.join(' ')} exited with ${result.code ?? result.signal}\n${result.stdout}\n${result.stderr}`,
    )
  }
  return result
}
