/**
 * `bluegreen demo`: bluegreen's whole job on one machine, through the real engine. It starts a
 * throwaway PostgreSQL, the local ELBv2 emulator and the example app's two pools (stack.ts),
 * then runs plans/demo.yaml with the same services the commands call — release, rollback,
 * release again, retire, contract — and says what each step does and why (narration.ts).
 *
 * Everything it starts, it stops, and checks that it stopped (teardown.ts). It never touches
 * the user's own database or spool: each engine call gets the stack's environment, with the
 * journal's spool in a temp BLUEGREEN_STATE_DIR.
 */
import { readdirSync } from 'node:fs'
import { isAbsolute, relative, resolve } from 'node:path'
import { contract, type ContractDecision } from '../../engine/contract.js'
import type { EngineContext } from '../../engine/context.js'
import type { Emit } from '../../events.js'
import { release, type ReleaseResult } from '../../engine/release.js'
import { retire } from '../../engine/retire.js'
import { rollback } from '../../engine/rollback.js'
import { phaseOf } from '../../plan/schema.js'
import type { LocalStack } from '../stack.js'
import * as narration from './narration.js'
import { askProduction } from './production.js'
import { profileColumns, readAsNewVersion, writeAsOldVersion } from './queries.js'
import { makeStateDir, stackEnvironment, startAppStack, startDatabase } from './stack.js'
import { Teardown } from './teardown.js'
import { demoVersions, type DemoOptions, type DemoPart, type DemoResult, type Narration } from './types.js'

type Outcome = Omit<DemoResult, 'ok' | 'ms' | 'parts' | 'stopped' | 'postgres'>

/** Start the stack, play the release, hold it for --keep, stop everything. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = Date.now()
  const parts: DemoPart[] = []
  const say = (line: Narration) => options.emit({ type: 'demo.narrate', ...line })
  const record = <T>(part: narration.Part<T>, at: number, value: T) =>
    parts.push({ name: part.name, ms: Date.now() - at, detail: part.detail(value) })
  const step = async <T>(part: narration.Part<T>, fn: () => Promise<T>): Promise<T> => {
    options.signal.throwIfAborted()
    const at = Date.now()
    const value = await fn()
    record(part, at, value)
    return value
  }
  const teardown = new Teardown()
  let result: (Outcome & Pick<DemoResult, 'postgres'>) | undefined
  let postgres: DemoResult['postgres'] | undefined
  let leftovers: string[] = []
  try {
    const database = await step(narration.parts.database(typeof options.postgres === 'object'), () =>
      startDatabase(options.postgres, say, teardown),
    )
    postgres = database.info
    const stack = await step(narration.parts.stack, () => startAppStack(database.url, say, teardown))
    const stateDir = makeStateDir(teardown)
    options.emit({
      type: 'demo.stack',
      postgres: database.info,
      productionUrl: stack.productionUrl,
      albEndpoint: stack.env.BLUEGREEN_ALB_ENDPOINT,
      stateDir,
    })
    const env = stackEnvironment(stack, stateDir)

    const engine: Scene['engine'] = (command, fn, version) => options.engine({ command, version, env }, fn)
    const outcome = await play({ ...options, database: database.url, stack, engine, say, step })
    result = { postgres: database.info, ...outcome }

    if (options.hold) {
      const plan = planLabel(options.planFile)
      // plans/demo.yaml spells out the ARNs (the emulator derives them from names); the rest it reads.
      const exports = Object.fromEntries(Object.entries(env.set).filter(([key]) => !key.endsWith('_ARN')))
      await options.hold({
        plan,
        productionUrl: stack.productionUrl,
        env: exports,
        commands: narration.nextCommands(plan),
      })
    }
  } finally {
    const at = Date.now()
    if (postgres) say(narration.stopping(postgres))
    leftovers = await teardown.run()
    record(narration.parts.stop, at, leftovers)
  }
  if (!result) throw new Error('bug: the demo ended without an outcome or an error')
  return { ok: true, ms: Date.now() - started, parts, ...result, stopped: leftovers.length === 0 }
}

interface Scene extends Omit<DemoOptions, 'engine'> {
  database: string
  stack: LocalStack
  /** An engine service run as `command` would run it, against the demo stack. */
  engine: <T>(command: string, fn: (ctx: EngineContext) => Promise<T>, version?: string) => Promise<T>
  say: (line: Narration) => void
  step: <T>(part: narration.Part<T>, fn: () => Promise<T>) => Promise<T>
}

/** The release as a user would live it: release, rollback, release again, retire, contract. */
async function play(scene: Scene): Promise<Outcome> {
  const { say, step, engine } = scene
  const plan = planLabel(scene.planFile)
  const before = await profileColumns(scene.database)
  await showProduction(scene, narration.reads.old)

  say(narration.releaseWhy(plan))
  const first = await step(narration.parts.release, () => releaseNarrated(scene, plan, 'first'))
  const expanded = await profileColumns(scene.database)
  await showProduction(scene, narration.reads.new)

  say(narration.rollbackWhy(plan, first.from))
  const back = await step(narration.parts.rollback, () =>
    engine(`bluegreen rollback --plan ${plan}`, (ctx) => rollback(ctx, { force: false })),
  )
  await showProduction(scene, narration.reads.old)
  say(narration.rollbackWorked())
  const written = await writeAsOldVersion(scene.database, 'Margaret Hamilton')
  say(narration.oldVersionWrote(written))

  say(narration.releaseAgainWhy())
  const again = await step(narration.parts.releaseAgain, () => releaseNarrated(scene, plan, 'again'))

  say(narration.retireWhy(plan, again.from))
  const retired = await step(narration.parts.retire(again.from), () =>
    engine(`bluegreen retire ${plan}`, (ctx) => retire(ctx)),
  )
  say(narration.newVersionRead(await readAsNewVersion(scene.database, written.id)))

  say(narration.contractWhy(plan))
  const contracts = await step(narration.parts.contract, () =>
    engine(`bluegreen contract ${plan}`, contractAsTheCommandDoes),
  )
  const columns = { before, expanded, after: await profileColumns(scene.database) }
  say(narration.schemaChanged(columns))
  await showProduction(scene, narration.reads.new)
  return { releases: [first, again], rollback: back, retired, contracts, columns }
}

/** `bluegreen release PLAN --version 2.0.0`, narrating its phases (inline or up front). */
function releaseNarrated(scene: Scene, plan: string, which: 'first' | 'again'): Promise<ReleaseResult> {
  const command = `bluegreen release ${plan} --version ${demoVersions.to}`
  return scene.engine(command, (ctx) => releaseWithNotes(ctx, scene, which), demoVersions.to)
}

async function releaseWithNotes(
  ctx: EngineContext,
  scene: Scene,
  which: 'first' | 'again',
): Promise<ReleaseResult> {
  const traffic = await ctx.lb.traffic()
  const sqlFiles = (dir: string) => readdirSync(resolve(ctx.planDir, dir)).filter((f) => f.endsWith('.sql'))
  const notes = narration.phaseNotes(ctx.plan, traffic.live, sqlFiles)[which]
  const narrate = (kind: keyof typeof notes) => {
    const note = notes[kind]
    if (note) scene.say({ topic: kind, text: note })
  }
  if (scene.narration === 'upfront') ctx.plan.phases.map(phaseOf).forEach(({ kind }) => narrate(kind))
  const emit: Emit = (event) => {
    if (scene.narration === 'inline' && event.type === 'step.start') narrate(event.kind as keyof typeof notes)
    ctx.emit(event)
  }
  return release(
    { ...ctx, emit },
    // The demo's pools start on demoVersions.from, so the journal knows it from the first release.
    { version: demoVersions.to, resume: false, force: false, dryRun: false, liveVersion: demoVersions.from },
  )
}

/**
 * `bluegreen contract PLAN`, as src/commands/contract.ts runs it: under the release lock. A copy
 * of the command's locking until the engine has a contract service that takes the lock itself.
 */
function contractAsTheCommandDoes(ctx: EngineContext): Promise<ContractDecision[]> {
  return contract(ctx, { dryRun: false })
}

/** Fetches production's answer through the load balancer and shows it. */
async function showProduction(scene: Scene, reads: string): Promise<void> {
  scene.emit({ type: 'demo.answer', ...(await askProduction(scene.stack.productionUrl)), reads })
}

/** The plan file as the user would type it: relative to the working directory when inside it. */
function planLabel(planFile: string): string {
  const rel = relative(process.cwd(), planFile)
  return rel.startsWith('..') || isAbsolute(rel) ? planFile : rel
}
