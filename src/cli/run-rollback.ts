/**
 * The body of `bluegreen rollback`, shared by the oclif command and the fast path that starts
 * without oclif (fast-path.ts): same engine, same confirmation, same output.
 */
import { BluegreenError } from '../errors.js'
import { parseDuration } from '../format/duration.js'
import type { PlanPath } from '../format/issues.js'
import { confirm } from './confirm.js'
import { withEngine } from './context.js'
import { waitLockMs } from './lock-wait.js'
import { printJson, printLine } from './output.js'

export interface RollbackInput {
  planFile: string
  yes: boolean
  force: boolean
  json: boolean
  /** How long the journal may take before the rollback goes on without it, e.g. "1s". */
  journalTimeout?: string
  /** The command line, recorded as the lock holder. */
  command: string
  /** --wait-lock, e.g. "5m". */
  waitLock?: string
}

export async function runRollback(input: RollbackInput): Promise<void> {
  const journalBudgetMs = budget(input.journalTimeout)
  const result = await withEngine(
    {
      planFile: input.planFile,
      json: input.json,
      command: input.command,
      allowOfflineJournal: true,
      locks: true,
      journalTimeoutMs: journalBudgetMs,
      waitLockMs: waitLockMs(input.waitLock),
      tolerateUnset: rollbackDoesNotRead,
      checkMigrationDirs: false,
      // Decided from a read started while the journal connects, not one after it.
      readTrafficAhead: true,
    },
    async (ctx) => {
      const { rollback } = await import('../engine/rollback.js')
      return rollback(ctx, {
        force: input.force,
        journalBudgetMs,
        // Asked once the target is known: the question names the switch.
        confirm: (question) => confirm(question, input),
      })
    },
  )
  if (input.json) printJson({ type: 'result', ...result })
  else if (result.action !== 'switched' || !result.changed)
    printLine(
      `✓ ${result.message ?? `${result.to}${result.version ? ` (${result.version})` : ''} is live; nothing to switch`}`,
    )
  else
    printLine(
      `✓ rolled back: ${result.to}${result.version ? ` (${result.version})` : ''} is live, in ${result.ms} ms${result.journaled ? '' : ' (journal entry pending)'}`,
    )
}

/**
 * Rollback reads the app, the load balancer, the pools and the verify phase; an unset variable
 * anywhere else (the database secret the on-call laptop lacks) must not stop it.
 */
function rollbackDoesNotRead(path: PlanPath): boolean {
  const [top, , kind] = path
  if (top === 'phases') return kind !== 'verify'
  return top !== 'app' && top !== 'loadBalancer' && top !== 'pools'
}

function budget(text: string | undefined): number {
  if (text === undefined) return 1000
  try {
    return parseDuration(text)
  } catch {
    throw new BluegreenError({
      code: 'USAGE',
      message: `--journal-timeout ${text} is not a duration`,
      hint: 'give it like 1s or 500ms (or set BLUEGREEN_JOURNAL_TIMEOUT)',
    })
  }
}
