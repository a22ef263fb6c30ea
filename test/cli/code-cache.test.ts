/**
 * bin/code-cache.js: the fast path is the CommonJS bundle compiled through V8's cached data, on
 * every Node (CI runs this on 20 and 24). Whatever the cache holds — nothing, its own data,
 * garbage, or a directory that cannot be written — the command answers the same as through the
 * ES-module bundle; only how long it takes may differ.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ensureBuilt, repoRoot } from '../support/cli.js'

let dir: string
let sql: string

beforeEach(() => {
  ensureBuilt()
  dir = mkdtempSync(join(tmpdir(), 'bluegreen-code-cache-'))
  sql = join(dir, '001_index.sql')
  writeFileSync(
    sql,
    'CREATE INDEX orders_customer ON orders (customer_id);\nALTER TABLE orders ADD COLUMN note text;\n',
  )
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

function lint(env: Record<string, string>) {
  const run = spawnSync(process.execPath, [join(repoRoot, 'bin/run.js'), 'lint', sql, '--format', 'json'], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

const caches = (cacheHome: string) => {
  try {
    return readdirSync(join(cacheHome, 'bluegreen', 'code-cache')).filter((name) => name.endsWith('.v8'))
  } catch {
    return []
  }
}

describe('the fast path through its code cache', () => {
  it('answers the same with no cache, its own, a corrupt one, or none allowed, and writes it once', () => {
    const cacheHome = join(dir, 'cache')
    const reference = lint({ NODE_DISABLE_COMPILE_CACHE: '1', XDG_CACHE_HOME: cacheHome })
    expect(reference.stdout).toContain('"rule"')
    expect(caches(cacheHome), 'turned off, it writes nothing').toEqual([])

    const first = lint({ XDG_CACHE_HOME: cacheHome })
    expect(first).toEqual(reference)
    const written = caches(cacheHome)
    expect(written).toHaveLength(1)
    expect(written[0]).toMatch(/^fast-path-lint\.cjs-[0-9a-f]+-lint-v\d+\.\d+\.\d+-\d+-\d+\.v8$/)
    const file = join(cacheHome, 'bluegreen', 'code-cache', written[0])
    const { mtimeMs, size, mode } = statSync(file)
    expect(size).toBeGreaterThan(100_000)
    expect(mode & 0o077, 'private to the user').toBe(0)

    expect(lint({ XDG_CACHE_HOME: cacheHome })).toEqual(reference)
    expect(statSync(file).mtimeMs, 'a cache that was accepted is not written again').toBe(mtimeMs)

    writeFileSync(file, 'not V8 data')
    expect(lint({ XDG_CACHE_HOME: cacheHome })).toEqual(reference)
    expect(readFileSync(file).length, 'rejected data is replaced').toBeGreaterThan(100_000)

    // XDG_CACHE_HOME is a file: no cache can be made, and the command does not notice.
    const blocked = join(dir, 'blocked')
    writeFileSync(blocked, '')
    expect(lint({ XDG_CACHE_HOME: blocked })).toEqual(reference)
  })

  it('keeps one cache per command and per installed bundle, and drops those of older builds', () => {
    const cacheHome = join(dir, 'cache')
    const cacheDir = join(cacheHome, 'bluegreen', 'code-cache')
    lint({ XDG_CACHE_HOME: cacheHome })
    const [own] = caches(cacheHome)
    // What an earlier build of this bundle, and another install used yesterday, left.
    const older = own.replace(/-\d+-\d+\.v8$/, '-1-1.v8')
    const otherInstall = own.replace(/^fast-path-lint\.cjs-[0-9a-f]+-/, 'fast-path-lint.cjs-00000000-')
    // The same install run by another Node (CI and a user's nvm switch between them): runs on
    // the two must not evict each other's cache, or each would compile from the warm one again.
    const otherNode = own.replace(/-v\d+\.\d+\.\d+-/, '-v99.0.0-')
    writeFileSync(join(cacheDir, older), 'old')
    writeFileSync(join(cacheDir, otherInstall), 'other')
    writeFileSync(join(cacheDir, otherNode), 'other node')
    rmSync(join(cacheDir, own))
    lint({ XDG_CACHE_HOME: cacheHome })
    expect(caches(cacheHome).sort()).toEqual([own, otherInstall, otherNode].sort())
  })
})
