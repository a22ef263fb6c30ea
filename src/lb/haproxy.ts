/**
 * HAProxy adapter. Both pools' servers live in one backend; a switch changes server weights
 * through the runtime API (`set server <backend>/<server> weight N`). No reload: HAProxy applies
 * a weight to the next request it balances, and keep-alive connections stay open, so a switch
 * drops nothing.
 *
 * The pool without traffic gets weight 0 rather than `state maint`: a server in maintenance is
 * not health-checked, and the inactive pool must be checked to become healthy before it gets
 * traffic (and for `targets()` to mean something). Servers an operator put in maintenance or
 * drain are left alone; a shift that would depend on them is refused before anything changes.
 *
 * Sticky clients: at weight 0 HAProxy still serves a client whose persistence cookie (`cookie …`
 * in the backend) or stick-table entry names the server. A forward switch leaves them there, as
 * HAProxy's own drain does; a rollback (`stickyClients: 'move'`) must not, so after the weights it
 * puts the old pool's servers in maintenance when the backend has a cookie (HAProxy then ignores
 * the cookie and sets a new one), and clears the backend's stick-table entries that name them.
 * Maintenance stops their health checks, so the next wait for that pool to be healthy (the
 * deploy phase of the next release) sets them ready again: a whole pool in forced maintenance at
 * weight 0 in a backend with a cookie is the state only a rollback leaves.
 *
 * Surviving a restart: after every switch the adapter writes `show servers state` to
 * `stateFile`, which HAProxy reads back at start-up with `server-state-file <stateFile>` (global)
 * and `load-server-state-from-file global` (defaults or backend). We chose that over rewriting
 * haproxy.cfg: the state file is HAProxy's own format for exactly this, needs no parsing or
 * templating of a config the user owns (and may generate), and no `haproxy -c` binary on the
 * machine that runs bluegreen (often a CI runner reaching the socket over TCP).
 */
import { BluegreenError } from '../errors.js'
import type { PlanCore } from '../format/parts.js'
import { writeFileAtomic } from './atomic-file.js'
import {
  parseServersState,
  parseStat,
  runtimeCommand,
  statsSocketLine,
  type ServerState,
} from './haproxy-runtime.js'
import { checkPercent, waitForHealthyPool } from './pool-health.js'
import { serverWeights } from './server-weights.js'
import {
  desiredWeights,
  otherPool,
  pools as poolNames,
  sameTraffic,
  trafficCloseTo as closeTo,
  trafficFrom,
  type LoadBalancer,
  type PoolName,
  type ShiftOptions,
  type ShiftResult,
  type Target,
  type TargetHealth,
  type Traffic,
  type WaitOptions,
} from './types.js'

/** HAProxy's largest server weight. */
const maxWeight = 256
/** srv_admin_state's FMAINT bit: `set server … state maint`, what a rollback leaves. */
const forcedMaintenance = 0x01
/** Every maintenance bit of srv_admin_state (forced, inherited, config, resolution, hostname); drain is 0x08/0x10. */
const anyMaintenance = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
/** The runtime API splits commands on `;` and spaces: names must not contain them. */
const safeName = /^[A-Za-z0-9._:-]+$/

/** What the adapter reads of `loadBalancer:` (its schema is in providers/haproxy.ts). */
export interface HaproxyConfig {
  runtimeApi: string
  backend: string
  stateFile?: string
}

export function createHaproxy(config: HaproxyConfig, pools: PlanCore['pools']): LoadBalancer {
  return new HaproxyLoadBalancer(config, pools)
}

export class HaproxyLoadBalancer implements LoadBalancer {
  readonly provider = 'haproxy' as const
  private readonly serversOf: Record<PoolName, string[]>
  private readonly socketHint: string

  constructor(
    private readonly config: HaproxyConfig,
    pools: PlanCore['pools'],
  ) {
    this.serversOf = poolServers(pools, config.backend)
    this.socketHint = `echo "show servers state ${config.backend}" | socat stdio ${config.runtimeApi}`
  }

  describe(): string {
    return `HAProxy backend ${this.config.backend} via ${this.config.runtimeApi}`
  }

  async traffic(): Promise<Traffic> {
    const [servers, { cookie, table }] = await Promise.all([this.readServers(), this.persistence()])
    const by = [
      ...(cookie ? [`cookie ${cookie}`] : []),
      ...(table ? [`stick-table ${this.config.backend}`] : []),
    ]
    const traffic = this.trafficOf(servers)
    return by.length > 0 ? { ...traffic, persistence: by.join(', ') } : traffic
  }

  async shift(to: PoolName, weight = 100, options: ShiftOptions = {}): Promise<ShiftResult> {
    checkPercent(weight)
    const moveSticky = weight === 100 && (options.stickyClients ?? 'move') === 'move'
    const from = otherPool(to)
    const { backend, runtimeApi } = this.config
    const serversOf = this.serversOf
    const servers = await this.readServers()
    const before = this.trafficOf(servers)
    const desired = trafficFrom(desiredWeights(to, weight))
    const perServer = serverWeights(
      desired.weights,
      { blue: serversOf.blue.length, green: serversOf.green.length },
      maxWeight,
    )
    const planned = new Map(
      poolNames.flatMap((pool) => serversOf[pool].map((name) => [name, perServer[pool]] as const)),
    )
    const alreadyThere = [...planned].every(([name, w]) => servers.get(name)!.weight === w)
    // Already there, or as close as integer weights get (pools of different sizes).
    if (sameTraffic(before, desired) || (alreadyThere && closeTo(before, desired))) {
      // A rollback resumed after the weights but before its sticky clients moved still moves them.
      const notes = moveSticky ? await this.moveStickyClients(from, to, servers) : []
      await this.saveState()
      return { changed: false, before, after: before, ...(notes.length > 0 ? { notes } : {}) }
    }

    // Servers in maintenance or drain would not take their share: refuse before changing anything.
    const predicted = this.trafficOf(servers, (s) => effectiveWeight(s, planned.get(s.name)))
    if (!closeTo(predicted, desired)) {
      const unavailable = [...planned]
        .filter(([name, w]) => w > 0 && servers.get(name)!.adminState !== 0)
        .map(([name]) => name)
      throw new BluegreenError({
        code: 'POOL_UNHEALTHY',
        message: `cannot send ${weight}% to ${to}: servers in maintenance or drain in HAProxy: ${unavailable.join(', ')}`,
        details: unavailable.map(
          (name) => `${backend}/${name}: admin state ${servers.get(name)!.adminState}`,
        ),
        hint:
          `Set them ready (echo "set server ${backend}/${unavailable[0] ?? '<server>'} state ready" | socat stdio ${runtimeApi}) or remove them from pools.${to}.servers` +
          (cookieParked(serversOf[to].map((name) => servers.get(name)!))
            ? `; if a rollback put them there to move sticky clients, a release's deploy phase sets them ready and waits for their health checks`
            : ''),
      })
    }

    // Raise weights before lowering any, so that the backend never has no server with weight.
    const changes = [...planned].filter(([name, w]) => servers.get(name)!.weight !== w)
    changes.sort(([a, wa], [b, wb]) => wb - servers.get(b)!.weight - (wa - servers.get(a)!.weight))
    for (const [name, w] of changes) await this.expectSilent(`set server ${backend}/${name} weight ${w}`)

    const afterServers = await this.readServers()
    const after = this.trafficOf(afterServers)
    const drifted = [...planned].filter(([name, w]) => afterServers.get(name)!.weight !== w)
    if (drifted.length > 0 || !closeTo(after, desired)) {
      throw new BluegreenError({
        code: 'LB_VERIFY_FAILED',
        message: `HAProxy reports ${after.weights.blue}% blue / ${after.weights.green}% green after the switch, expected ${desired.weights.blue}% / ${desired.weights.green}%`,
        details: drifted.map(
          ([name, w]) => `${backend}/${name}: weight ${afterServers.get(name)!.weight}, expected ${w}`,
        ),
        hint: `Something else changed the weights at the same time; check with: ${this.socketHint}`,
      })
    }
    const notes = moveSticky ? await this.moveStickyClients(from, to, afterServers) : []
    await this.saveState()
    return { changed: true, before, after, ...(notes.length > 0 ? { notes } : {}) }
  }

  /**
   * Sends the clients HAProxy keeps on `from` by persistence to `to` as well: a cookie is ignored
   * for a server in maintenance, and a stick-table entry that is gone is balanced again.
   */
  private async moveStickyClients(
    from: PoolName,
    to: PoolName,
    servers: Map<string, ServerState>,
  ): Promise<string[]> {
    const { backend } = this.config
    const { cookie, table } = await this.persistence()
    const notes: string[] = []
    if (cookie) {
      // Drained servers too: HAProxy's drain is weight 0, and serves persistent clients as well.
      const ready = this.serversOf[from].filter(
        (name) => (servers.get(name)!.adminState & anyMaintenance) === 0,
      )
      for (const name of ready) await this.expectSilent(`set server ${backend}/${name} state maint`)
      if (ready.length > 0) {
        notes.push(
          `HAProxy keeps clients holding its ${cookie} cookie on their server even at weight 0, so ${from}'s servers ` +
            `(${ready.join(', ')}) are in maintenance now and those clients go to ${to} too; ` +
            `the next deploy to ${from} sets them ready again`,
        )
      }
    }
    if (table) {
      for (const name of this.serversOf[from])
        await this.expectSilent(`clear table ${backend} data.server_id eq ${servers.get(name)!.id}`)
      notes.push(
        `stick-table ${backend}: the entries naming ${from}'s servers are cleared, so those clients go to ${to} too`,
      )
    }
    return notes
  }

  /** How the backend keeps clients on a server: its cookie's name, and whether it has its own stick-table. */
  private async persistence(): Promise<{ cookie?: string; table: boolean }> {
    const { backend } = this.config
    const cmd = `show stat ${backend} 2 -1`
    const [statReply, tables] = await Promise.all([this.command(cmd), this.command('show table')])
    const rows = parseStat(statReply)
    if (!rows) throw this.refused(cmd, statReply)
    const cookie = rows.find((row) => row.svname === 'BACKEND')?.cookie
    const table = tables.split('\n').some((line) => line.startsWith(`# table: ${backend},`))
    return { ...(cookie ? { cookie } : {}), table }
  }

  /** Runs a command whose success is an empty answer. */
  private async expectSilent(cmd: string): Promise<void> {
    const reply = await this.command(cmd)
    if (reply.trim() !== '') throw this.refused(cmd, reply)
  }

  /**
   * Sets ready the servers of `pool` that a rollback put in maintenance to move its sticky
   * clients (every server of the pool in forced maintenance at weight 0, in a backend with a
   * cookie), so that their health checks run again. Anything else an operator did stays.
   */
  private async readyAfterRollback(pool: PoolName): Promise<void> {
    const servers = await this.readServers()
    const names = this.serversOf[pool]
    if (!cookieParked(names.map((name) => servers.get(name)!)) || !(await this.persistence()).cookie) return
    for (const name of names) await this.expectSilent(`set server ${this.config.backend}/${name} state ready`)
  }

  async targets(pool: PoolName): Promise<Target[]> {
    const cmd = `show stat ${this.config.backend} 4 -1`
    const [servers, statReply] = await Promise.all([this.readServers(), this.command(cmd)])
    const stats = parseStat(statReply)
    if (!stats) throw this.refused(cmd, statReply)
    const statOf = new Map(stats.map((row) => [row.svname, row]))
    return this.serversOf[pool].map((name) => {
      const server = servers.get(name)!
      const { health, reason } = healthOf(statOf.get(name))
      return { id: name, address: server.address, port: server.port, health, ...(reason ? { reason } : {}) }
    })
  }

  async waitHealthy(pool: PoolName, options: WaitOptions): Promise<Target[]> {
    await this.readyAfterRollback(pool)
    return waitForHealthyPool(
      () => this.targets(pool),
      pool,
      options,
      () =>
        `HAProxy's health checks decide: check the servers' "check" settings and the app on each target (${this.socketHint})`,
    )
  }

  async close(): Promise<void> {
    // One connection per command: nothing stays open.
  }

  private async command(cmd: string): Promise<string> {
    return runtimeCommand(this.config.runtimeApi, cmd)
  }

  /** The BluegreenError that an error answer from the runtime API stands for. */
  private refused(cmd: string, reply: string): BluegreenError {
    const { backend, runtimeApi } = this.config
    const text = reply.trim() || '(no answer)'
    if (/no such backend|can't find backend|no such proxy/i.test(text)) {
      return new BluegreenError({
        code: 'LB_CONFIG',
        message: `HAProxy has no backend "${backend}" (${text})`,
        hint: `Set loadBalancer.backend to a backend in haproxy.cfg; list them with: echo "show backend" | socat stdio ${runtimeApi}`,
      })
    }
    if (/permission denied/i.test(text)) {
      return new BluegreenError({
        code: 'LB_ACCESS_DENIED',
        message: `HAProxy refused "${cmd}": ${text}`,
        hint: `Give the runtime API admin level: "${statsSocketLine(runtimeApi)}" in haproxy.cfg`,
      })
    }
    return new BluegreenError({
      code: 'LB_CONFIG',
      message: `HAProxy refused "${cmd}": ${text}`,
      hint: `Check that pools.blue.servers and pools.green.servers name servers of backend ${backend}: ${this.socketHint}`,
    })
  }

  /** The backend's servers, checked against the plan's pools. */
  private async readServers(): Promise<Map<string, ServerState>> {
    const { backend } = this.config
    const cmd = `show servers state ${backend}`
    const reply = await this.command(cmd)
    const rows = parseServersState(reply)
    if (!rows) throw this.refused(cmd, reply)
    const byName = new Map(rows.map((row) => [row.name, row]))
    const missing = poolNames.flatMap((pool) =>
      this.serversOf[pool]
        .filter((name) => !byName.has(name))
        .map((name) => `pools.${pool}.servers: ${name}`),
    )
    if (missing.length > 0) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `HAProxy backend ${backend} has no server named ${missing.map((m) => m.split(': ')[1]).join(', ')}`,
        details: [...missing, `servers in ${backend}: ${[...byName.keys()].join(', ') || '(none)'}`],
        hint: 'Name the servers exactly as in the backend’s "server <name> <address>" lines',
      })
    }
    return byName
  }

  private trafficOf(
    servers: Map<string, ServerState>,
    weightOf = (s: ServerState) => effectiveWeight(s),
  ): Traffic {
    const sum = (pool: PoolName): number =>
      this.serversOf[pool].reduce((total, name) => total + weightOf(servers.get(name)!), 0)
    return trafficFrom({ blue: sum('blue'), green: sum('green') })
  }

  private async saveState(): Promise<void> {
    const { stateFile } = this.config
    if (!stateFile) return
    // All backends, not just ours: with `load-server-state-from-file global` HAProxy reads every
    // backend's servers from this one file, and a file with only ours would reset the others.
    const reply = await this.command('show servers state')
    if (!parseServersState(reply)) throw this.refused('show servers state', reply)
    try {
      await writeFileAtomic(stateFile, reply)
    } catch (error) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `HAProxy switched, but the server-state file ${stateFile} could not be written: ${(error as Error).message}`,
        hint: 'Fix the path or its permissions and run the switch again (it rewrites the file); until then an HAProxy restart forgets the live pool',
        cause: error,
      })
    }
  }
}

/** Every server in forced maintenance at weight 0: how a rollback leaves a pool it moved sticky clients off. */
function cookieParked(servers: ServerState[]): boolean {
  return servers.every((server) => (server.adminState & forcedMaintenance) !== 0 && server.weight === 0)
}

/** A server in maintenance or drain gets no traffic whatever its weight. */
function effectiveWeight(server: ServerState, weight = server.weight): number {
  return server.adminState === 0 ? weight : 0
}

function poolServers(pools: PlanCore['pools'], backend: string): Record<PoolName, string[]> {
  const result = { blue: pools.blue.servers ?? [], green: pools.green.servers ?? [] }
  for (const pool of poolNames) {
    if (result[pool].length === 0) {
      throw new BluegreenError({
        code: 'PLAN_INVALID',
        message: `pools.${pool}.servers is required with the haproxy provider`,
        hint: `List the names of the ${pool} servers of backend ${backend}, e.g. servers: [${pool}1, ${pool}2]`,
      })
    }
    const bad = result[pool].filter((name) => !safeName.test(name))
    if (bad.length > 0) {
      throw new BluegreenError({
        code: 'PLAN_INVALID',
        message: `pools.${pool}.servers: ${bad.join(', ')} is not an HAProxy server name`,
        hint: 'Use the names from the backend’s "server <name> <address>" lines (letters, digits, . _ : -)',
      })
    }
  }
  const shared = result.blue.filter((name) => result.green.includes(name))
  if (shared.length > 0) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `servers ${shared.join(', ')} are in both pools`,
      hint: 'Each HAProxy server belongs to exactly one pool',
    })
  }
  if (!safeName.test(backend)) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `loadBalancer.backend "${backend}" is not an HAProxy backend name`,
      hint: 'Use the name from the "backend <name>" line of haproxy.cfg',
    })
  }
  return result
}

/** Health as HAProxy's checks see it, from `show stat`'s status and check columns. */
function healthOf(stat: Record<string, string> | undefined): { health: TargetHealth; reason?: string } {
  if (!stat) return { health: 'unknown', reason: 'not in show stat' }
  const status = stat.status ?? ''
  const check = (stat.check_status ?? '').replace(/^\* /, '')
  const detail = [check, stat.check_code, stat.check_desc].filter(Boolean).join(' ')
  if (status === 'no check') {
    return { health: 'unknown', reason: 'no health check: add "check" to the server line' }
  }
  if (status.startsWith('UP')) return { health: 'healthy' }
  if (status.startsWith('MAINT'))
    return { health: 'unavailable', reason: `${status.toLowerCase()} (maintenance)` }
  if (status.startsWith('DRAIN') || status.startsWith('NOLB')) return { health: 'draining', reason: status }
  if (status.startsWith('DOWN')) return { health: 'unhealthy', reason: detail || status }
  return { health: 'unknown', reason: status }
}
