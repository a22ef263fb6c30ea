/**
 * A real PostgreSQL for the test run: initdb and pg_ctl in a temporary directory on a free
 * port, through `runuser -u postgres` when running as root (initdb refuses root). One server
 * is started by the global setup and shared; each test file creates its own database in it.
 */
import { execFileSync } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findBinary, freePort } from './process.js'

const pgBinDirs = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin']

export interface PostgresServer {
  url: string
  port: number
  dataDir: string
  pid: number
  stop(): Promise<void>
}

function asPostgresUser(command: string, args: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', command, ...args] : [command, ...args]
}

function run(command: string, args: string[]): string {
  const [bin, ...rest] = asPostgresUser(command, args)
  return execFileSync(bin!, rest, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

export function havePostgres(): boolean {
  return findBinary('initdb', pgBinDirs) !== undefined
}

export async function startPostgres(): Promise<PostgresServer> {
  const initdb = findBinary('initdb', pgBinDirs)
  const pgCtl = findBinary('pg_ctl', pgBinDirs)
  if (!initdb || !pgCtl) throw new Error('PostgreSQL server binaries not found (apt-get install postgresql)')
  const root = mkdtempSync(join(tmpdir(), 'bluegreen-pg-'))
  const dataDir = join(root, 'data')
  if (process.getuid?.() === 0) {
    execFileSync('chown', ['-R', 'postgres:postgres', root])
  }
  const port = await freePort()
  run(initdb, ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
  writeFileSync(
    join(dataDir, 'postgresql.auto.conf'),
    [`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${root}'`, 'fsync = off',
      'synchronous_commit = off', 'full_page_writes = off', 'max_connections = 200'].join('\n') + '\n',
  )
  if (process.getuid?.() === 0) chownSync(join(dataDir, 'postgresql.auto.conf'), uidOf('postgres'), gidOf('postgres'))
  run(pgCtl, ['-D', dataDir, '-l', join(root, 'log'), '-w', '-t', '30', 'start'])
  const pid = Number(run('head', ['-1', join(dataDir, 'postmaster.pid')]).trim())
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  return {
    url,
    port,
    dataDir,
    pid,
    async stop() {
      try {
        run(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])
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

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim())
}
function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim())
}

/** The shared server's URL, from the global setup. */
export function sharedPostgresUrl(): string {
  const url = process.env.BLUEGREEN_TEST_PG_URL
  if (!url) throw new Error('no test PostgreSQL: the global setup did not start one (is initdb installed?)')
  return url
}

let counter = 0
/** A fresh, empty database in the shared server, for one test file or test. */
export async function createTestDatabase(prefix = 'test'): Promise<string> {
  const { default: pg } = await import('pg')
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  const admin = new pg.Client({ connectionString: sharedPostgresUrl() })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(sharedPostgresUrl())
  url.pathname = `/${name}`
  return url.toString()
}
