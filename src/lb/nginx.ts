/**
 * nginx adapter. nginx (free) has no runtime API, so a switch rewrites the upstream block in an
 * include file and reloads nginx:
 *   1. the new file replaces the old by atomic rename (nginx never reads half a file),
 *   2. the plan's `test` command (`nginx -t`) checks the whole configuration; if it fails, the
 *      previous file is put back and the switch fails with nginx's own message,
 *   3. the plan's `reload` command (`nginx -s reload`) makes nginx start new workers with the
 *      new upstream and shut the old ones down gracefully.
 * The file is the record of the live pool: traffic() parses it back — once nginx has loaded
 * it. A crash between the rewrite and the reload would leave a file that says green while nginx
 * serves blue, so every successful reload records the file's hash in a marker beside it
 * (`.<file>.bluegreen-applied`, a dotfile so that an `include dir/*` glob never reads it). A file
 * whose hash differs from the marker was not applied by bluegreen; but nginx may have been
 * reloaded or restarted since by anyone, and then serves the file. nginx-loaded.ts tells which
 * from the start times of nginx's workers: traffic() reports the file when nginx has loaded it,
 * else what the marker says nginx serves (with a note), and the next shift() rewrites and
 * reloads whatever it finds.
 *
 * A reload is not lossless for keep-alive clients: the old workers finish the requests in flight
 * but close their idle keep-alive connections, and a client that sends its next request on such a
 * connection just as it closes gets a reset or an empty reply (most HTTP clients do not retry a
 * non-idempotent request, and many do not retry at all). Expect a few failed requests per switch
 * under load; HAProxy's runtime API does not have this problem.
 *
 * The reload command only signals nginx; the master applies the new configuration a moment later:
 * it starts new workers, sleeps 100 ms, then tells the old ones to stop. So shift() waits a little
 * longer than that before it returns. Without that wait, back-to-back shifts send SIGHUPs that
 * coalesce into one and workers with an intermediate configuration were seen serving for a moment.
 * The verify phase, which watches production, is what confirms the switch took effect.
 *
 * Weights: nginx's weight must be at least 1, so a pool with 0% of traffic keeps its server lines
 * marked `down` instead of being left out. That way the file always lists both pools (it reads as
 * the whole picture), `nginx -t` keeps resolving the inactive pool's addresses (a typo fails before
 * the switch to that pool, not during it), and reading the live pool back is unambiguous.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { failpoint } from '../failpoint.js'
import { connect } from 'node:net'
import { parseHostPort } from '../format/host-port.js'
import { BluegreenError } from '../errors.js'
import type { PlanCore } from '../format/parts.js'
import { writeFileAtomic } from './atomic-file.js'
import {
  findUpstream,
  renderUpstream,
  replaceBlock,
  sameAddress,
  type UpstreamBlock,
} from './nginx-upstream.js'
import { checkPercent, waitForHealthyPool } from './pool-health.js'
import { serverWeights } from './server-weights.js'
import { nginxLoadedFile } from './nginx-loaded.js'
import {
  desiredWeights,
  pools as poolNames,
  sameTraffic,
  trafficCloseTo as closeTo,
  trafficFrom,
  type LoadBalancer,
  type PoolName,
  type ShiftResult,
  type Target,
  type Traffic,
  type WaitOptions,
} from './types.js'
import { sleep } from '../sleep.js'

/** No limit in nginx; a cap keeps the file readable (weights are reduced by their gcd first). */
const maxWeight = 1000
const commandTimeoutMs = 60_000
const probeTimeoutMs = 2000
/** nginx's master waits 100 ms after starting new workers before retiring the old ones. */
const reloadSettleMs = 300

/** What the adapter reads of `loadBalancer:` (its schema is in providers/nginx.ts). */
export interface NginxConfig {
  upstreamFile: string
  upstream: string
  reload: string[]
  test: string[]
}

export function createNginx(config: NginxConfig, pools: PlanCore['pools']): LoadBalancer {
  return new NginxLoadBalancer(config, pools)
}

/** What the last successful reload applied: the file's hash and its traffic. */
interface Marker {
  hash: string
  weights: Record<PoolName, number>
}

export class NginxLoadBalancer implements LoadBalancer {
  readonly provider = 'nginx' as const
  private readonly serversOf: Record<PoolName, string[]>
  private readonly markerFile: string

  constructor(
    private readonly config: NginxConfig,
    pools: PlanCore['pools'],
  ) {
    this.serversOf = poolServers(pools)
    this.markerFile = join(
      dirname(config.upstreamFile),
      `.${basename(config.upstreamFile)}.bluegreen-applied`,
    )
  }

  describe(): string {
    return `nginx upstream ${this.config.upstream} in ${this.config.upstreamFile}`
  }

  async traffic(): Promise<Traffic> {
    return (await this.applied()).traffic
  }

  async shift(to: PoolName, weight = 100): Promise<ShiftResult> {
    checkPercent(weight)
    const { config, serversOf } = this
    const { upstreamFile, upstream } = config
    const { text, block, traffic: before, pending } = await this.applied()
    const desired = trafficFrom(desiredWeights(to, weight))
    // A file nginx has not loaded is rewritten and reloaded even when it reads as asked.
    if (sameTraffic(before, desired) && !pending) return { changed: false, before, after: before }
    // The first switch: what nginx serves now is the file as it is.
    if (!(await this.readMarker())) await this.writeMarker(text, block)

    const perServer = serverWeights(
      desired.weights,
      { blue: serversOf.blue.length, green: serversOf.green.length },
      maxWeight,
    )
    const servers = poolNames.flatMap((pool) =>
      serversOf[pool].map((address) => ({
        address,
        weight: perServer[pool],
        params: block.servers.find((s) => sameAddress(s.address, address))?.params ?? [],
      })),
    )
    const others = block.servers.filter((s) => this.poolOf(s.address) === undefined).map((s) => s.statement)
    const note = `Written by bluegreen: blue ${desired.weights.blue}%, green ${desired.weights.green}%; the pool without traffic is marked down.`
    await writeFileAtomic(
      upstreamFile,
      replaceBlock(text, block, renderUpstream(upstream, block.directives, servers, others, note)),
    )

    const restore = () => writeFileAtomic(upstreamFile, text)
    failpoint('nginx:written')
    const tested = await run(config.test)
    if (!tested.ok) {
      await restore()
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `nginx rejected the configuration for ${desired.weights[to]}% to ${to}; ${upstreamFile} was restored`,
        details: nginxMessage(tested.output),
        hint: `nginx still serves ${before.live} as before. Fix what nginx reports (often an address in pools.${to}.servers), then switch again`,
      })
    }
    const reloaded = await run(config.reload)
    if (!reloaded.ok) {
      await restore()
      throw new BluegreenError({
        code: 'LB_UNREACHABLE',
        message: `nginx did not reload (${config.reload.join(' ')}); ${upstreamFile} was restored`,
        details: nginxMessage(reloaded.output),
        hint: `Check that nginx is running and that loadBalancer.reload signals it (e.g. nginx -s reload with the same -c/-p nginx was started with)`,
      })
    }

    const written = await this.readUpstream()
    await this.writeMarker(written.text, written.block)
    await sleep(reloadSettleMs)

    const after = this.trafficOf(written.block)
    if (!sameTraffic(after, desired) && !closeTo(after, desired)) {
      throw new BluegreenError({
        code: 'LB_VERIFY_FAILED',
        message: `${upstreamFile} reads ${after.weights.blue}% blue / ${after.weights.green}% green after the switch, expected ${desired.weights.blue}% / ${desired.weights.green}%`,
        hint: 'Something else rewrote the upstream file at the same time; check it and switch again',
      })
    }
    return { changed: true, before, after }
  }

  async targets(pool: PoolName): Promise<Target[]> {
    // nginx free has no active health checks (and its passive ones are per worker and not
    // readable), so health here is a direct TCP connect to each server: the same thing nginx's
    // own failure detection (`proxy_next_upstream error timeout`) would trip on.
    return Promise.all(
      this.serversOf[pool].map(async (server): Promise<Target> => {
        const { host, port } = splitAddress(server)
        const failure = await probe(host, port)
        return {
          id: server,
          address: host,
          port,
          health: failure === undefined ? 'healthy' : 'unhealthy',
          ...(failure === undefined ? {} : { reason: `TCP connect failed: ${failure}` }),
        }
      }),
    )
  }

  async waitHealthy(pool: PoolName, options: WaitOptions): Promise<Target[]> {
    return waitForHealthyPool(
      () => this.targets(pool),
      pool,
      options,
      () =>
        `nginx has no active health checks, so bluegreen connects to each server of pools.${pool}.servers itself: check that the app listens there`,
    )
  }

  async close(): Promise<void> {
    // Nothing stays open: the file is read per call and probes close their sockets.
  }

  private async readUpstream(): Promise<{ text: string; block: UpstreamBlock }> {
    const { upstreamFile, upstream } = this.config
    const serversOf = this.serversOf
    let text: string
    try {
      text = await readFile(upstreamFile, 'utf8')
    } catch (error) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `cannot read the nginx upstream file ${upstreamFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        hint: `Create it with the live pool, e.g. "upstream ${upstream} { server ${serversOf.blue[0]}; }", and include it from nginx.conf's http block`,
        cause: error,
      })
    }
    const block = findUpstream(text, upstream)
    if (!block) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `${upstreamFile} has no "upstream ${upstream} { … }" block`,
        hint: 'Set loadBalancer.upstream to the name of the upstream block in that file',
      })
    }
    const strangers = block.servers.filter((s) => !s.backup && this.poolOf(s.address) === undefined)
    if (strangers.length > 0) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `upstream ${upstream} sends traffic to ${strangers.map((s) => s.address).join(', ')}, which is in neither pool`,
        details: [
          `pools.blue.servers: ${serversOf.blue.join(', ')}`,
          `pools.green.servers: ${serversOf.green.join(', ')}`,
        ],
        hint: `Add the address to pools.blue.servers or pools.green.servers, or remove it from ${upstreamFile}`,
      })
    }
    return { text, block }
  }

  /** What the last successful reload applied, if a reload by bluegreen has happened. */
  private async readMarker(): Promise<Marker | undefined> {
    try {
      return JSON.parse(await readFile(this.markerFile, 'utf8')) as Marker
    } catch {
      return undefined
    }
  }

  private async writeMarker(text: string, block: UpstreamBlock): Promise<void> {
    await writeFileAtomic(
      this.markerFile,
      JSON.stringify({ hash: hash(text), weights: this.trafficOf(block).weights }) + '\n',
    )
  }

  /** What nginx serves: the file once applied, else what the last reload applied. */
  private async applied(): Promise<{
    text: string
    block: UpstreamBlock
    traffic: Traffic
    pending: boolean
  }> {
    const { text, block } = await this.readUpstream()
    const inFile = this.trafficOf(block)
    const marker = await this.readMarker()
    if (!marker || marker.hash === hash(text)) return { text, block, traffic: inFile, pending: false }
    // Not reloaded by bluegreen since the rewrite; but a restart or a reload by anyone applies it.
    const loaded = await nginxLoadedFile(this.config.upstreamFile, this.config.reload)
    if (loaded === true) return { text, block, traffic: inFile, pending: false }
    const served = trafficFrom(marker.weights)
    const file = `${this.config.upstreamFile} says blue ${inFile.weights.blue}% / green ${inFile.weights.green}%`
    return {
      text,
      block,
      pending: true,
      traffic: {
        ...served,
        note:
          loaded === false
            ? `${file}, but nginx has not been reloaded with it (a switch interrupted before its reload, or an edit not yet applied): nginx serves what it last loaded, blue ${served.weights.blue}% / green ${served.weights.green}%`
            : `${file}, but bluegreen did not reload nginx with it, and cannot tell whether anyone has since (no nginx master with the reload command's arguments on this host): nginx serves either that or what bluegreen last loaded, blue ${served.weights.blue}% / green ${served.weights.green}%; the next switch reloads it`,
      },
    }
  }

  private poolOf(address: string): PoolName | undefined {
    return poolNames.find((pool) => this.serversOf[pool].some((s) => sameAddress(s, address)))
  }

  private trafficOf(block: UpstreamBlock): Traffic {
    const sum = (pool: PoolName): number =>
      block.servers.filter((s) => this.poolOf(s.address) === pool).reduce((total, s) => total + s.weight, 0)
    return trafficFrom({ blue: sum('blue'), green: sum('green') })
  }
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function poolServers(pools: PlanCore['pools']): Record<PoolName, string[]> {
  const result = { blue: pools.blue.servers ?? [], green: pools.green.servers ?? [] }
  for (const pool of poolNames) {
    if (result[pool].length === 0) {
      throw new BluegreenError({
        code: 'PLAN_INVALID',
        message: `pools.${pool}.servers is required with the nginx provider`,
        hint: `List the ${pool} pool's servers as host:port, e.g. servers: ["10.0.1.10:8080", "10.0.1.11:8080"]`,
      })
    }
    const bad = result[pool].filter(
      (server) => !/^[^\s:;{}#]+:\d+$/.test(server) && !/^\[[0-9a-fA-F:.]+\]:\d+$/.test(server),
    )
    if (bad.length > 0) {
      throw new BluegreenError({
        code: 'PLAN_INVALID',
        message: `pools.${pool}.servers: ${bad.join(', ')} is not host:port`,
        hint: 'Give each server as host:port, as it would appear on an nginx "server" line',
      })
    }
  }
  const shared = result.blue.filter((a) => result.green.some((b) => sameAddress(a, b)))
  if (shared.length > 0) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `servers ${shared.join(', ')} are in both pools`,
      hint: 'Each server belongs to exactly one pool',
    })
  }
  return result
}

function splitAddress(server: string): { host: string; port: number } {
  const { address, port } = parseHostPort(server)
  return { host: address, port }
}

/** Resolves with undefined when a TCP connection opens, or with the reason it did not. */
function probe(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    socket.setTimeout(probeTimeoutMs, () => {
      socket.destroy()
      resolve(`no answer within ${probeTimeoutMs} ms`)
    })
    socket.once('connect', () => {
      socket.destroy()
      resolve(undefined)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  })
}

async function run(argv: string[]): Promise<{ ok: boolean; output: string }> {
  const [command, ...args] = argv
  return new Promise((resolve) => {
    execFile(command, args, { timeout: commandTimeoutMs }, (error, stdout, stderr) => {
      const output = `${stderr}${stdout}`.trim()
      if (!error) return resolve({ ok: true, output })
      const code = (error as NodeJS.ErrnoException).code
      resolve({
        ok: false,
        output:
          code === 'ENOENT'
            ? `cannot run ${command}: not found (set the full path in the plan)`
            : output || error.message,
      })
    })
  })
}

/** nginx's own lines, without the boilerplate "test failed" line. */
function nginxMessage(output: string): string[] {
  const lines = output.split('\n').filter((line) => line.trim() !== '')
  const useful = lines.filter((line) => !/test failed|syntax is ok|test is successful/.test(line))
  return useful.length > 0 ? useful : lines
}
