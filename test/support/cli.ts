/**
 * Runs the built CLI (`node bin/run.js …`) as a child process, the way a user or a CD pipeline
 * does: real argv, real environment, real exit code. The CI script builds before testing, so
 * dist/ must exist; a missing build is a clear error, a stale one a warning.
 *
 * `traceModules: true` also records every module the process loaded (ESM through a resolve
 * hook, CommonJS from require.cache at exit, and for each bundled file of dist/ the sources its
 * source map lists), so tests can assert that start-up stays light.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

export interface RunCliOptions {
  /** Merged over process.env; a key set to undefined is removed from the child's environment. */
  env?: Record<string, string | undefined>
  /** Working directory; default the repository root. */
  cwd?: string
  /** Written to the child's stdin, which is then closed. */
  input?: string
  /** Killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number
  /** Record the modules the process loaded, in `modules`. */
  traceModules?: boolean
  /**
   * Run it on a real pseudo-terminal (util-linux `script`), as a person at a terminal does:
   * stdout and stderr both arrive in `stdout`, as the terminal shows them.
   */
  tty?: boolean
}

export interface CliResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** file: URLs and paths of loaded modules (only with traceModules). */
  modules: string[]
}

export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  ensureBuilt()
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  const trace = options.traceModules ? traceFiles() : undefined
  const nodeArgs = trace ? ['--import', pathToFileURL(trace.register).href] : []
  if (trace) env.BLUEGREEN_TRACE_MODULES_FILE = trace.output

  const argv = [process.execPath, ...nodeArgs, join(repoRoot, 'bin/run.js'), ...args]
  if (options.tty) {
    env.TERM = 'xterm-256color'
    delete env.CI
  }
  const child = options.tty
    ? spawn('script', ['-qefc', argv.map(shellQuote).join(' '), '/dev/null'], {
        cwd: options.cwd ?? repoRoot,
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    : spawn(argv[0], argv.slice(1), { cwd: options.cwd ?? repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (done, fail) => {
        child.once('error', fail)
        child.once('close', (exitCode, exitSignal) => done({ code: exitCode, signal: exitSignal }))
      },
    )
    const modules = trace ? readTrace(trace) : []
    return { code, signal, stdout, stderr, modules }
  } finally {
    clearTimeout(timer)
    if (trace) rmSync(trace.dir, { recursive: true, force: true })
  }
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`
}

/** The packages (by name under node_modules) among `modules`, e.g. ['@aws-sdk', 'pg']. */
export function packagesLoaded(modules: string[], names: readonly string[]): string[] {
  return names.filter((name) => modules.some((m) => m.includes(`/node_modules/${name}/`)))
}

let checkedBuild = false

/** Throws unless dist/ holds a build; warns once when src/ changed after it. */
export function ensureBuilt(): void {
  const manifest = join(repoRoot, 'oclif.manifest.json')
  if (!existsSync(join(repoRoot, 'dist/commands')) || !existsSync(manifest)) {
    throw new Error('the CLI is not built: run `npm run build` first (tests run dist/, through bin/run.js)')
  }
  if (checkedBuild) return
  checkedBuild = true
  const built = statSync(manifest).mtimeMs
  const newer = newestFile(join(repoRoot, 'src'))
  if (newer && newer.mtimeMs > built) {
    process.stderr.write(`warning: ${newer.path} changed after the last build; run \`npm run build\`\n`)
  }
}

function newestFile(dir: string): { path: string; mtimeMs: number } | undefined {
  let newest: { path: string; mtimeMs: number } | undefined
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    const { mtimeMs } = statSync(path)
    if (!newest || mtimeMs > newest.mtimeMs) newest = { path, mtimeMs }
  }
  return newest
}

interface TraceFiles {
  dir: string
  register: string
  output: string
}

// The resolve hook runs on the loader thread and appends each resolved URL; the main thread adds
// the CommonJS modules at exit (require() of CommonJS does not pass through ESM hooks on Node 20).
const hooksSource = `
import { appendFileSync } from 'node:fs'
let file
export function initialize(data) { file = data.file }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context)
  appendFileSync(file, result.url + '\\n')
  return result
}
`
const registerSource = `
import { register, createRequire } from 'node:module'
import { appendFileSync } from 'node:fs'
const file = process.env.BLUEGREEN_TRACE_MODULES_FILE
register('./hooks.mjs', import.meta.url, { data: { file } })
const require = createRequire(import.meta.url)
process.on('exit', () => appendFileSync(file, Object.keys(require.cache).join('\\n') + '\\n'))
`

function traceFiles(): TraceFiles {
  const dir = mkdtempSync(join(tmpdir(), 'bluegreen-trace-'))
  writeFileSync(join(dir, 'hooks.mjs'), hooksSource)
  writeFileSync(join(dir, 'register.mjs'), registerSource)
  const output = join(dir, 'modules.txt')
  writeFileSync(output, '')
  return { dir, register: join(dir, 'register.mjs'), output }
}

function readTrace(trace: TraceFiles): string[] {
  const lines = readFileSync(trace.output, 'utf8').split('\n').filter(Boolean)
  const files = [...new Set(lines.map((line) => (line.startsWith('file:') ? fileURLToPath(line) : line)))]
  return [...new Set(files.flatMap((file) => [file, ...bundledSources(file)]))]
}

/**
 * The source files bundled into a file of dist/ (scripts/build.ts), from its source map: a
 * chunk that is loaded brings every package in it, so those count as loaded.
 */
function bundledSources(file: string): string[] {
  const map = `${file}.map`
  if (!file.startsWith(join(repoRoot, 'dist')) || !existsSync(map)) return []
  const { sources } = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] }
  return sources.map((source) => resolve(dirname(map), source))
}
