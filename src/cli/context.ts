/**
 * The context builder: the one place (with the commands) that constructs adapters. It loads
 * the plan, picks the renderer, builds the load balancer and opens the journal, hands all of
 * it to the engine inside callbacks, and closes everything afterwards.
 */
import { userInfo } from 'node:os'
import { dirname, resolve } from 'node:path'
import type { EngineContext } from '../engine/context.js'
import type { Journal, LockHolder } from '../journal/journal.js'
import type { LoadBalancer } from '../lb/types.js'
import type { Notifier } from '../notify/notifier.js'
import { isBluegreenError } from '../errors.js'
import type { PlanPath } from '../format/issues.js'
import type { OmittedSection } from '../plan/load.js'
import type { Plan } from '../plan/schema.js'
import { createRenderer, outputMode, type Renderer } from '../ui/index.js'
import { withInterrupts } from './interrupt.js'
import { waitingForLock } from './lock-wait.js'
import { redactingJournal } from './redacting-journal.js'

export interface ContextOptions {
  planFile: string
  version?: string
  json: boolean
  /** The command line, recorded as the lock holder. */
  command: string
  /**
   * Rollback must work with the database down: then the journal is offline (reads find
   * nothing, the rollback spools its entry) instead of the command failing.
   */
  allowOfflineJournal?: boolean
  /**
   * The command takes the release lock (release, rollback, contract, retire): the lock's
   * database connection is opened alongside the journal's rather than after it.
   */
  locks?: boolean
  /** How long the database may take to connect (rollback: a bounded wait before going offline). */
  journalTimeoutMs?: number
  /**
   * Plan paths the command does not read: an unset `${VAR}` there leaves its section out of
   * the plan instead of failing (rollback). Without `database` or `state` the journal is
   * offline, as with the database down; needs allowOfflineJournal.
   */
  tolerateUnset?: (path: PlanPath) => boolean
  /** --wait-lock: how long a held release lock is waited for (default: fail at once, exit 4). */
  waitLockMs?: number
  /** Whether the plan's migration directories are checked (default true; rollback reads none). */
  checkMigrationDirs?: boolean
  /**
   * Read the load balancer's traffic as soon as its client is made, beside the journal's
   * connection set-up (rollback: it decides from that read): EngineContext.trafficAhead.
   */
  readTrafficAhead?: boolean
}

export function actor(): string {
  if (process.env.BLUEGREEN_ACTOR) return process.env.BLUEGREEN_ACTOR
  try {
    return userInfo().username
  } catch {
    return process.env.USER ?? 'unknown'
  }
}

export async function withEngine<T>(
  options: ContextOptions,
  fn: (ctx: EngineContext, ui: Renderer) => Promise<T>,
): Promise<T> {
  const { loadPlan } = await import('../plan/load.js')
  const loaded = await loadPlan(options.planFile, {
    version: options.version,
    ...(options.tolerateUnset ? { tolerateUnset: options.tolerateUnset } : {}),
    ...(options.checkMigrationDirs !== undefined ? { checkMigrationDirs: options.checkMigrationDirs } : {}),
  })
  const plan = loaded.plan
  const planDir = dirname(resolve(loaded.file))
  const ui = await createRenderer(outputMode(options.json))
  for (const { section, variables } of loaded.omitted) {
    ui.emit({ type: 'warning', message: `${unsetText(variables)}: going on without the plan's ${section}` })
  }
  // The load balancer client (the AWS SDK is the slowest module to load) is made while the
  // journal's connection is being opened: neither waits for the other.
  const creating = import('../lb/index.js')
    .then(({ createLoadBalancer }) => createLoadBalancer(plan.loadBalancer, plan.pools))
    .then(
      (lb) => ({ lb }),
      (error: unknown) => ({ error }),
    )
  const loadBalancer = async (): Promise<LoadBalancer> => {
    const created = await creating
    if ('error' in created) throw created.error
    return created.lb
  }
  const trafficAhead = options.readTrafficAhead
    ? creating.then((created) => {
        if (!('lb' in created)) return undefined
        const read = created.lb.traffic()
        read.catch(() => {})
        return { read, at: Date.now() }
      })
    : undefined
  const interrupts = {
    hint: 'resume with `bluegreen release PLAN --resume`',
    onFirst: (signal: NodeJS.Signals) =>
      ui.emit({
        type: 'warning',
        message: `${signal}: stopping after the current step's safe point (press Ctrl-C again to quit at once)`,
      }),
  }
  // One notifier per command: its background sends are awaited (bounded) before the result.
  const notifier = await createNotifier(plan, ui)
  const journalOptions = {
    allowOffline: options.allowOfflineJournal ?? false,
    locks: options.locks ?? false,
    connectTimeoutMs: options.journalTimeoutMs,
    unusable: journalUnusable(plan, loaded.omitted),
  }
  try {
    return await withInterrupts(interrupts, (signal) =>
      withJournal(plan, planDir, journalOptions, ui, async (journal, offline) =>
        fn(
          {
            plan,
            planFile: loaded.file,
            planDir,
            planHash: loaded.hash,
            lb: await loadBalancer(),
            ...(trafficAhead ? { trafficAhead: await trafficAhead } : {}),
            journal: notifyingStaleLocks(
              redactingJournal(
                options.waitLockMs ? waitingForLock(journal, options.waitLockMs, ui.emit) : journal,
              ),
              plan.app,
              notifier,
            ),
            journalOffline: offline,
            emit: ui.emit,
            signal,
            actor: actor(),
            command: options.command,
            ...(notifier ? { notifier } : {}),
          },
          ui,
        ),
      ),
    )
  } catch (error) {
    // A load balancer that cannot be made is a plan or credentials problem: it is reported
    // first, as it was before the journal was opened alongside it.
    await loadBalancer()
    throw error
  } finally {
    // Each warning of a send that failed was emitted as it was known (onWarning); the ones still
    // unsent are abandoned after at most 5 s, and say so.
    await notifier?.flush(5000)
    const created = await creating
    if ('lb' in created) await created.lb.close().catch(() => {})
    await ui.finish()
  }
}

/** The plan's webhooks, or none (the notify module is loaded only for a plan that has some). */
async function createNotifier(plan: Plan, ui: Renderer): Promise<Notifier | undefined> {
  if (!plan.notify || plan.notify.length === 0) return undefined
  const { Notifier } = await import('../notify/notifier.js')
  return new Notifier(plan.notify, { onWarning: (message) => ui.emit({ type: 'warning', message }) })
}

/**
 * The webhooks hear of a stale lock (lock.stale): one `unlock --force` cleared, or one a command
 * took over because its holder died without releasing it. In the background, after the fact.
 */
function notifyingStaleLocks(journal: Journal, app: string, notifier: Notifier | undefined): Journal {
  if (!notifier?.wants('lock.stale')) return journal
  const tell = (stale: LockHolder, how: string) =>
    notifier.notifyInBackground({
      event: 'lock.stale',
      app,
      at: new Date().toISOString(),
      by: stale.holder,
      since: stale.since,
      reason: `${how}: pid ${stale.pid} on ${stale.host} held it (\`${stale.command}\`)`,
    })
  return new Proxy(journal, {
    get(target, property, receiver) {
      if (property === 'forceUnlock') {
        return async (name: string) => {
          const cleared = await target.forceUnlock(name)
          if (cleared) tell(cleared, `cleared by ${actor()}`)
          return cleared
        }
      }
      if (property === 'withLock') {
        const withLock: Journal['withLock'] = (name, holder, fn, options) =>
          target.withLock(name, holder, fn, {
            ...options,
            onStaleLock: (stale) => {
              options?.onStaleLock?.(stale)
              tell(
                stale,
                `taken over by ${holder.holder} (${holder.command}): its holder died without releasing it`,
              )
            },
          })
        return withLock
      }
      return Reflect.get(target, property, receiver) as unknown
    },
  })
}

async function withJournal<T>(
  plan: Plan,
  planDir: string,
  options: { allowOffline: boolean; locks: boolean; connectTimeoutMs?: number; unusable?: string },
  ui: Renderer,
  fn: (journal: Journal, offline: boolean) => Promise<T>,
): Promise<T> {
  if (options.unusable !== undefined && options.allowOffline) {
    ui.emit({ type: 'warning', message: `${options.unusable}; continuing without the journal` })
    const { OfflineJournal } = await import('../journal/offline.js')
    return fn(new OfflineJournal(), true)
  }
  if (!plan.database) {
    const { FileJournal } = await import('../journal/file.js')
    const file = resolve(planDir, plan.state?.file ?? `.bluegreen/${plan.app}.state.json`)
    return fn(new FileJournal(file), false)
  }
  const { withPostgresJournal } = await import('../journal/postgres.js')
  let entered = false
  try {
    return await withPostgresJournal(
      plan.database.url,
      (journal) => {
        entered = true
        return fn(journal, false)
      },
      { lockConnection: options.locks, connectTimeoutMs: options.connectTimeoutMs },
    )
  } catch (error) {
    if (entered || !options.allowOffline || !isBluegreenError(error) || error.code !== 'DATABASE_UNREACHABLE')
      throw error
    ui.emit({ type: 'warning', message: `${error.message}; continuing without the journal` })
    const { OfflineJournal } = await import('../journal/offline.js')
    return fn(new OfflineJournal(), true)
  }
}

/** Why the journal cannot be opened when the plan's database or state section was left out. */
function journalUnusable(plan: Plan, omitted: OmittedSection[]): string | undefined {
  const lost = omitted.find((o) => o.section === 'database' || (o.section === 'state' && !plan.database))
  return lost && `the journal's ${lost.section} section is unusable (${unsetText(lost.variables)})`
}

function unsetText(variables: string[]): string {
  return variables.length === 1
    ? `${variables[0]} is not set`
    : `${variables.slice(0, -1).join(', ')} and ${variables[variables.length - 1]} are not set`
}
