/**
 * The body of `bluegreen release`, shared by the oclif command and the fast path that starts
 * without oclif (fast-path.ts): same engine, same confirmation, same output.
 */
import { BluegreenError } from '../errors.js'
import { checkVersionFlag } from '../format/version.js'
import { confirm } from './confirm.js'
import { withEngine } from './context.js'
import { waitLockMs } from './lock-wait.js'
import { printJson, printLine } from './output.js'

export interface ReleaseInput {
  planFile: string
  version?: string
  dryRun: boolean
  resume: boolean
  approve: boolean
  force: boolean
  yes: boolean
  json: boolean
  /** --wait-lock, e.g. "5m". */
  waitLock?: string
  /** --live-version: what the live pool runs on a first release. */
  liveVersion?: string
  /** The command line, recorded as the lock holder. */
  command: string
}

export async function runRelease(input: ReleaseInput): Promise<void> {
  checkVersionFlag(input.liveVersion, '--live-version')
  // oclif's dependsOn counts a boolean's default as given, so the pair is checked here.
  if (input.approve && !input.resume) {
    throw new BluegreenError({
      code: 'USAGE',
      message: '--approve approves the step a paused release waits at; it needs --resume',
      hint: `run: bluegreen release ${input.planFile} --resume --approve (or bluegreen approve ${input.planFile})`,
    })
  }
  const result = await withEngine(
    {
      planFile: input.planFile,
      version: input.version,
      json: input.json,
      command: input.command,
      locks: !input.dryRun,
      waitLockMs: waitLockMs(input.waitLock),
    },
    async (ctx) => {
      if (!input.dryRun)
        await confirm(`Release ${ctx.plan.app} ${input.version ?? ctx.plan.version ?? ''}?`, input)
      const { release } = await import('../engine/release.js')
      return release(ctx, {
        version: input.version,
        resume: input.resume,
        force: input.force,
        dryRun: input.dryRun,
        liveVersion: input.liveVersion,
        approve: input.approve,
      })
    },
  )
  if (input.json) printJson({ type: 'result', ...result })
  else if (result.unchanged)
    printLine(`✓ ${result.app} ${result.version} is already live on ${result.to}; nothing to release`)
  else if (!result.switched && !result.dryRun)
    printLine(
      `✓ ${result.app} ${result.version} is deployed to ${result.to}; the plan has no switch phase, so ${result.from} still gets the traffic`,
    )
  else if (!result.dryRun)
    printLine(
      `✓ ${result.app} ${result.version} is live on ${result.to}; ${result.from} is the rollback target (bluegreen rollback --plan ${input.planFile})`,
    )
}
