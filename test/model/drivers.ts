/**
 * Two ways to drive the real system with the model's operations: in-process, through the
 * engine (fast: most sequences), and through the built CLI as separate processes (as a
 * pipeline or an on-call engineer runs it). Both run against the real stack: PostgreSQL (or the
 * file journal), the ELBv2 emulator through the AWS SDK, and the demo app's pools.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { EngineContext } from '../../src/engine/context.js'
import type { StatusReport } from '../../src/engine/status.js'
import { BluegreenError, isBluegreenError } from '../../src/errors.js'
import type { LoadBalancer } from '../../src/lb/types.js'
import { startLocalStack, type LocalStack } from '../../src/local/stack.js'
import { repoRoot, runCli } from '../support/cli.js'
import { sql } from '../support/e2e.js'
import { createTestDatabase } from '../support/postgres.js'
import { brokenBuild, type Fail, type Pool } from './model.js'

export type JournalKind = 'postgres' | 'file'

export type Op =
  | { kind: 'release'; version: string; fail?: Fail; force?: boolean }
  | { kind: 'release-stopped'; version: string; how: 'interrupt' | 'lock'; afterMs: number }
  | { kind: 'resume' }
  | { kind: 'rollback'; force: boolean }
  | { kind: 'retire' }
  | { kind: 'contract' }

export interface Observed {
  code: number
  /** The error's code and message, for the sequence's log. */
  error?: string
  /** For release-stopped: how far the real release got. */
  reached?: {
    deployBegan: boolean
    promoted: boolean
    finished: boolean
    weights: Record<Pool, number>
    /** What each pool's servers answer with now. */
    served: Record<Pool, string>
  }
}

export interface Observation {
  status: StatusReport
  /** The newest release's id (to tell whether an operation started one). */
  latestRelease?: string
  /** Contracts applied, by release id (PostgreSQL only). */
  applied: string[]
}

export interface World {
  /** What `status` says, and what the journal holds, after an operation. */
  observe(): Promise<Observation>
  /** Which pool production answers from (an HTTP request through the listener). */
  production(): Promise<string>
  run(op: Op): Promise<Observed>
}

export interface Stack {
  kind: JournalKind
  databaseUrl: string
  local: LocalStack
  stateDir: string
  /** The environment of the model plan for `app` (its own journal, state and spool). */
  env(app: string): Record<string, string>
  /** Starts a sequence: a fresh app, both pools on 1.0.0, blue live. */
  world(app: string, through: 'engine' | 'cli'): Promise<World>
  close(): Promise<void>
}

export const planFor = (kind: JournalKind) =>
  join(repoRoot, `test/fixtures/model/plan-${kind === 'postgres' ? 'pg' : 'file'}.yaml`)
const deployIndex = (kind: JournalKind) => (kind === 'postgres' ? 1 : 0)
const standbyIndex = (kind: JournalKind) => (kind === 'postgres' ? 5 : 4)

export async function startStack(kind: JournalKind): Promise<Stack> {
  const databaseUrl = await createTestDatabase('model')
  await sql(databaseUrl, 'CREATE TABLE IF NOT EXISTS model_profiles (id int PRIMARY KEY, name text)')
  const local = await startLocalStack({ databaseUrl, healthInterval: '100ms', profiles: 20 })
  const stateDir = mkdtempSync(join(tmpdir(), 'bluegreen-model-'))
  const stack: Stack = {
    kind,
    databaseUrl,
    local,
    stateDir,
    env: (app) => ({
      ...local.env,
      DATABASE_URL: databaseUrl,
      MODEL_APP: app,
      MODEL_STATE_FILE: join(stateDir, `${app}.state.json`),
      BLUEGREEN_STATE_DIR: join(stateDir, app),
      CI: 'true',
    }),
    async world(app, through) {
      const env = stack.env(app)
      // Both pools back on 1.0.0, all traffic on blue.
      for (const pool of ['blue', 'green'] as const)
        await fetch(local.app.controlUrl, {
          method: 'POST',
          body: JSON.stringify({ pool, version: '1.0.0' }),
        })
      await withEngine(kind, env, {}, async (ctx) => void (await ctx.lb.shift('blue', 100)))
      return through === 'engine' ? engineWorld(kind, env, local) : cliWorld(kind, env, local)
    },
    async close() {
      await local.close()
      rmSync(stateDir, { recursive: true, force: true })
    },
  }
  return stack
}

function commonWorld(kind: JournalKind, env: Record<string, string>, local: LocalStack) {
  return {
    async production() {
      const response = await fetch(`${local.productionUrl}/version`)
      return ((await response.json()) as { pool: string }).pool
    },
    /** The journal's side of an observation, read directly (not through the command under test). */
    journal: (ctx: EngineContext) => journalSide(kind, env, ctx),
  }
}

async function journalSide(
  kind: JournalKind,
  env: Record<string, string>,
  ctx: EngineContext,
): Promise<Omit<Observation, 'status'>> {
  const latestRelease = (await ctx.journal.releases(env.MODEL_APP, 1))[0]?.id
  if (kind !== 'postgres') return { latestRelease, applied: [] }
  const { rows } = await ctx.journal
    .contracts!.connection.query<{ release: string }>(
      `SELECT release FROM bluegreen.contracts WHERE app = $1 AND applied_at IS NOT NULL`,
      [env.MODEL_APP],
    )
    .catch(() => ({ rows: [] as { release: string }[] }))
  return { latestRelease, applied: rows.map((r) => r.release) }
}

/** Runs `fn` with an engine context for the model plan, as a command would build it. */
async function withEngine<T>(
  kind: JournalKind,
  env: Record<string, string>,
  options: { locks?: boolean },
  fn: (ctx: EngineContext, abort: (error: BluegreenError) => void) => Promise<T>,
): Promise<T> {
  const [{ loadPlan }, { createLoadBalancer }] = await Promise.all([
    import('../../src/plan/load.js'),
    import('../../src/lb/index.js'),
  ])
  const loaded = await loadPlan(planFor(kind), { env })
  const lb: LoadBalancer = await createLoadBalancer(loaded.plan.loadBalancer, loaded.plan.pools)
  const controller = new AbortController()
  const base = {
    plan: loaded.plan,
    planFile: loaded.file,
    planDir: dirname(loaded.file),
    planHash: loaded.hash,
    lb,
    journalOffline: false,
    emit: () => {},
    signal: controller.signal,
    actor: 'model',
    command: 'bluegreen model',
  }
  const abort = (error: BluegreenError) => controller.abort(error)
  // The deploy command and the spool read these from the process environment.
  Object.assign(process.env, env)
  try {
    if (loaded.plan.database) {
      const { withPostgresJournal } = await import('../../src/journal/postgres.js')
      return await withPostgresJournal(
        loaded.plan.database.url,
        (journal) => fn({ ...base, journal }, abort),
        {
          lockConnection: options.locks,
        },
      )
    }
    const { FileJournal } = await import('../../src/journal/file.js')
    return await fn({ ...base, journal: new FileJournal(env.MODEL_STATE_FILE) }, abort)
  } finally {
    await lb.close()
  }
}

let lastError: string | undefined

async function exitCodeOf(work: Promise<unknown>): Promise<number> {
  lastError = undefined
  try {
    await work
    return 0
  } catch (error) {
    if (!isBluegreenError(error)) throw error
    lastError = `${error.code}: ${error.message}`
    return error.exitCode
  }
}

/** The last in-process error, for the log (the CLI's goes to its stderr). */
export function lastErrorMessage(): string | undefined {
  return lastError
}

const failEnv = (fail: Fail | undefined): Record<string, string> => ({
  MODEL_DEPLOY_FAIL: fail === 'deploy' ? '1' : '',
  MODEL_SMOKE_PREFIX: fail === 'smoke' ? 'not-' : '',
  MODEL_DEPLOY_AS: fail === 'verify' ? brokenBuild : '',
})

/** Cuts the release lock's session (PostgreSQL), or removes its lock file (file journal). */
async function cutLock(kind: JournalKind, env: Record<string, string>): Promise<void> {
  if (kind === 'postgres') {
    await sql(
      env.DATABASE_URL,
      // Only while that session holds the lock: a gone session's pid may be another test's now.
      `SELECT pg_terminate_backend(l.backend_pid) FROM bluegreen.locks l
        WHERE l.app = $1 AND EXISTS (SELECT 1 FROM pg_locks k WHERE k.pid = l.backend_pid
          AND k.locktype = 'advisory' AND k.granted AND k.objid = hashtext($1)::oid AND k.objsubid = 2)`,
      [env.MODEL_APP],
    ).catch(() => [])
    return
  }
  rmSync(`${env.MODEL_STATE_FILE}.${env.MODEL_APP}.lock`, { force: true })
}

async function reachedOf(
  kind: JournalKind,
  env: Record<string, string>,
  code: number,
  local: LocalStack,
): Promise<NonNullable<Observed['reached']>> {
  return withEngine(kind, env, {}, async (ctx) => {
    const [latest] = await ctx.journal.releases(env.MODEL_APP, 1)
    const steps = latest ? await ctx.journal.steps(latest.id) : []
    const traffic = await ctx.lb.traffic()
    return {
      deployBegan: steps.some((s) => s.index === deployIndex(kind)),
      promoted: steps.some((s) => s.index === standbyIndex(kind) && s.status === 'done'),
      // A signal that lands as the release ends (its handler already gone) kills the process
      // after the work: the journal says whether it finished.
      finished: code === 0 || latest?.status === 'done',
      weights: traffic.weights,
      served: { blue: local.app.versionOf('blue'), green: local.app.versionOf('green') },
    }
  })
}

function engineWorld(kind: JournalKind, env: Record<string, string>, local: LocalStack): World {
  const common = commonWorld(kind, env, local)
  const base = { ...env, ...failEnv(undefined) }
  return {
    ...common,
    async observe() {
      const { status } = await import('../../src/engine/status.js')
      return withEngine(kind, base, {}, async (ctx) => {
        const report = await status(ctx)
        return { status: report, ...(await common.journal(ctx)) }
      })
    },
    async run(op) {
      const { release } = await import('../../src/engine/release.js')
      const started = async (code: number): Promise<Observed> => ({ code })
      switch (op.kind) {
        case 'release': {
          const code = await exitCodeOf(
            withEngine(kind, { ...base, ...failEnv(op.fail) }, { locks: true }, (ctx) =>
              release(ctx, {
                version: op.version,
                resume: false,
                force: op.force ?? false,
                dryRun: false,
                liveVersion: '1.0.0',
              }),
            ),
          )
          return started(code)
        }
        case 'release-stopped': {
          const code = await exitCodeOf(
            withEngine(kind, base, { locks: true }, (ctx, abort) => {
              const timer = setTimeout(() => {
                if (op.how === 'interrupt')
                  abort(
                    new BluegreenError({
                      code: 'INTERRUPTED',
                      message: 'interrupted by SIGINT',
                      hint: 'resume',
                    }),
                  )
                else void cutLock(kind, env)
              }, op.afterMs)
              return release(ctx, {
                version: op.version,
                resume: false,
                force: false,
                dryRun: false,
                liveVersion: '1.0.0',
              }).finally(() => clearTimeout(timer))
            }),
          )
          const observed = await started(code)
          return { ...observed, reached: await reachedOf(kind, env, code, local) }
        }
        case 'resume':
          return {
            code: await exitCodeOf(
              withEngine(kind, base, { locks: true }, (ctx) =>
                release(ctx, { resume: true, force: false, dryRun: false }),
              ),
            ),
          }
        case 'rollback': {
          const { rollback } = await import('../../src/engine/rollback.js')
          return {
            code: await exitCodeOf(
              withEngine(kind, base, { locks: true }, (ctx) => rollback(ctx, { force: op.force })),
            ),
          }
        }
        case 'retire': {
          const { retire } = await import('../../src/engine/retire.js')
          return { code: await exitCodeOf(withEngine(kind, base, { locks: true }, (ctx) => retire(ctx))) }
        }
        case 'contract': {
          const { contract } = await import('../../src/engine/contract.js')
          return {
            code: await exitCodeOf(
              withEngine(kind, base, { locks: true }, (ctx) => contract(ctx, { dryRun: false })),
            ),
          }
        }
      }
    },
  }
}

function cliWorld(kind: JournalKind, env: Record<string, string>, local: LocalStack): World {
  const common = commonWorld(kind, env, local)
  const plan = planFor(kind)
  const base = { ...env, ...failEnv(undefined) }
  const releaseArgs = (version: string) => [
    'release',
    plan,
    '--version',
    version,
    '--live-version',
    '1.0.0',
    '--yes',
  ]
  const cli = (args: string[], extra: Record<string, string> = {}) =>
    runCli(args, { env: { ...base, ...extra }, timeoutMs: 60_000 })
  return {
    ...common,
    async observe() {
      const result = await cli(['status', plan, '--json'])
      if (result.code !== 0) throw new Error(`status exited ${result.code}: ${result.stderr}`)
      const journal = await withEngine(kind, base, {}, (ctx) => common.journal(ctx))
      return { status: JSON.parse(result.stdout.trim().split('\n').at(-1)!) as StatusReport, ...journal }
    },
    async run(op) {
      const started = async (code: number | null): Promise<Observed> => ({ code: code ?? -1 })
      switch (op.kind) {
        case 'release':
          return started(
            (await cli([...releaseArgs(op.version), ...(op.force ? ['--force'] : [])], failEnv(op.fail)))
              .code,
          )
        case 'release-stopped': {
          const { spawn } = await import('node:child_process')
          const child = spawn(process.execPath, [join(repoRoot, 'bin/run.js'), ...releaseArgs(op.version)], {
            env: { ...process.env, ...base },
            stdio: ['ignore', 'pipe', 'ignore'],
          })
          // The moment counts from the release's first line: a signal before Node has started
          // bluegreen kills the process before it did anything (that is no release to model).
          let timer: NodeJS.Timeout | undefined
          child.stdout.once('data', () => {
            timer = setTimeout(() => {
              // Ctrl-C, or a pipeline cancelled (SIGTERM): both stop at the next safe point.
              if (op.how === 'interrupt') child.kill(op.afterMs % 2 === 0 ? 'SIGINT' : 'SIGTERM')
              else void cutLock(kind, env)
            }, op.afterMs)
          })
          child.stdout.resume()
          const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
          clearTimeout(timer)
          const observed = await started(code)
          return { ...observed, reached: await reachedOf(kind, env, observed.code, local) }
        }
        case 'resume':
          return { code: (await cli(['release', plan, '--resume', '--yes'])).code ?? -1 }
        case 'rollback':
          return {
            code:
              (await cli(['rollback', '--plan', plan, '--yes', ...(op.force ? ['--force'] : [])])).code ?? -1,
          }
        case 'retire':
          return { code: (await cli(['retire', plan])).code ?? -1 }
        case 'contract':
          return { code: (await cli(['contract', plan])).code ?? -1 }
      }
    },
  }
}
