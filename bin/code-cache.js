/**
 * A code cache for the fast path (rollback, status, lint).
 *
 * Most of a short command's start-up is V8 compiling the bundled modules. bin/run.js loads the
 * fast path's CommonJS bundles (dist/cli/fast-path-<command>.cjs, built from the same source as
 * dist/cli/fast-path.js) through vm.Script with V8's cached data. Node 20 has no compile cache
 * for ES modules at all; on Node 22.1+, whose module.enableCompileCache covers the ES-module
 * chunks, one cached script still starts a rollback faster than dozens of cached chunks (bench:
 * 204 ms against 306 ms to production on Node 24), so it is used on every Node.
 *
 * There is one cache per command: its first run writes it at exit, with every function that run
 * compiled, and later runs skip the compilation. The build writes a `warm` one (the bundle's top
 * level only), which a command's first run starts from.
 *
 * The caches live in $XDG_CACHE_HOME/bluegreen/code-cache (default ~/.cache), private to the
 * user, keyed by the Node version and the bundle's size and mtime (a run drops that Node's caches
 * of the bundle's earlier builds); V8 rejects data that does not match its version and flags, and
 * the cache is then written again. Anything going wrong with it (no home, a read-only disk) only
 * costs the compilation. NODE_DISABLE_COMPILE_CACHE=1 turns it off, as it does Node's own.
 */
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import module, { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'

/** Whether the cache is wanted: unless NODE_DISABLE_COMPILE_CACHE turns it off. */
export function wantsCodeCache() {
  return !process.env.NODE_DISABLE_COMPILE_CACHE
}

/**
 * The exports of the CommonJS bundle at `url`, compiled from the cache of `command` (or the warm
 * one) when there is one; `command`'s own cache is written at exit when it had none.
 */
export function loadWithCodeCache(url, command) {
  const file = fileURLToPath(url)
  const source = readFileSync(file, 'utf8')
  const { size, mtimeMs } = statSync(file)
  const dir = cacheDir()
  // One set of caches per installed bundle: a global install and a project's do not evict each other.
  // The Node version is part of the name: writing one Node's cache drops that Node's caches of
  // older builds, not another Node's cache of this one (CI, or nvm, switching between them).
  const name = (flavour) => `${file.replace(/.*[\\/]/, '')}-${pathHash(file)}-${flavour}-${process.version}-`
  const key = `${size}-${Math.trunc(mtimeMs)}.v8`
  const prefix = name(command)
  const cacheFile = dir && join(dir, prefix + key)
  const own = dir && readCache(cacheFile)
  const cachedData = own ?? (dir && command !== 'warm' ? readCache(join(dir, name('warm') + key)) : undefined)
  const script = new vm.Script(module.wrap(source), { filename: file, cachedData })
  if (cacheFile && (!own || script.cachedDataRejected)) {
    // At exit, so that the functions this run compiled are in it too; but before any V8 flag is
    // changed at run time (the linter's parser does): V8 rejects data made under other flags.
    let written = false
    const write = () => {
      if (!written) writeCache(script, dir, cacheFile, prefix)
      written = true
    }
    process.once('exit', write)
    const setFlags = v8.setFlagsFromString
    v8.setFlagsFromString = (flags) => {
      write()
      v8.setFlagsFromString = setFlags
      return setFlags(flags)
    }
  } else if (own) keepFresh(cacheFile)
  const loaded = { exports: {} }
  script.runInThisContext()(loaded.exports, createRequire(file), loaded, file, dirname(file))
  return loaded.exports
}

/** A cache in use is touched once a day, so that the pruning in writeCache leaves it. */
function keepFresh(file) {
  try {
    const now = Date.now()
    if (statSync(file).mtimeMs < now - 24 * 3600 * 1000) utimesSync(file, now / 1000, now / 1000)
  } catch {
    // pruned by another process meanwhile: the next run writes it again
  }
}

/** FNV-1a of the bundle's path, in hex: short, and enough to tell installs apart. */
function pathHash(path) {
  let hash = 0x811c9dc5
  for (let i = 0; i < path.length; i++) hash = Math.imul(hash ^ path.charCodeAt(i), 0x01000193) >>> 0
  return hash.toString(16)
}

function readCache(file) {
  try {
    return readFileSync(file)
  } catch {
    return undefined
  }
}

function cacheDir() {
  try {
    return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'bluegreen', 'code-cache')
  } catch {
    return undefined
  }
}

function writeCache(script, dir, cacheFile, prefix) {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const temporary = `${cacheFile}.${process.pid}`
    writeFileSync(temporary, script.createCachedData(), { mode: 0o600 })
    renameSync(temporary, cacheFile)
    // The caches of this bundle's earlier builds are never read again, nor are those of
    // installs not run for a week (removed ones, a benchmark's copies).
    const weekAgo = Date.now() - 7 * 24 * 3600 * 1000
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (!name.endsWith('.v8') || path === cacheFile) continue
      if (name.startsWith(prefix) || statSync(path).mtimeMs < weekAgo) rmSync(path, { force: true })
    }
  } catch {
    // a cache that cannot be written costs the next run its compilation, nothing else
  }
}
