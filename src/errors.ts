/**
 * One error type for everything a user can act on. `code` is stable (scripts may match on it),
 * `hint` says what to do next, and the process exit code follows from the code.
 * Anything that is not a BluegreenError is a bug and is printed with its stack.
 * Its texts are redacted when it is made: an error message travels far (the journal, the spool
 * of an offline rollback, an automatic rollback's reason), and no copy of it may hold a secret.
 */
import { redact } from './redact.js'

/** Exit codes: a contract with CD pipelines (see DESIGN.md). */
export const ExitCode = {
  ok: 0,
  /** Failed before the switch: users never saw the new version. */
  failedBeforeSwitch: 1,
  /** Usage or plan error: nothing was touched. */
  usage: 2,
  /** Failed after the switch and was rolled back automatically. */
  rolledBack: 3,
  /** Another release holds the lock, or a release is unfinished. */
  locked: 4,
  /** Needs a human: a rollback or a contract step could not complete. */
  needsHuman: 5,
  /** The release waits at an approve step: `bluegreen approve PLAN` continues it. */
  awaitingApproval: 6,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

const exitCodes = {
  PLAN_INVALID: ExitCode.usage,
  PLAN_NOT_FOUND: ExitCode.usage,
  USAGE: ExitCode.usage,
  SQL_PARSE: ExitCode.usage,
  UNSAFE_MIGRATION: ExitCode.failedBeforeSwitch,
  MIGRATION_CHANGED: ExitCode.failedBeforeSwitch,
  MIGRATION_FAILED: ExitCode.failedBeforeSwitch,
  LOCK_TIMEOUT: ExitCode.failedBeforeSwitch,
  DATABASE_UNREACHABLE: ExitCode.failedBeforeSwitch,
  BACKFILL_FAILED: ExitCode.failedBeforeSwitch,
  DEPLOY_FAILED: ExitCode.failedBeforeSwitch,
  DEPLOY_TIMEOUT: ExitCode.failedBeforeSwitch,
  EXEC_FAILED: ExitCode.failedBeforeSwitch,
  POOL_UNHEALTHY: ExitCode.failedBeforeSwitch,
  SMOKE_FAILED: ExitCode.failedBeforeSwitch,
  LB_NOT_FOUND: ExitCode.failedBeforeSwitch,
  LB_ACCESS_DENIED: ExitCode.failedBeforeSwitch,
  LB_UNREACHABLE: ExitCode.failedBeforeSwitch,
  LB_CONFIG: ExitCode.failedBeforeSwitch,
  LB_VERIFY_FAILED: ExitCode.failedBeforeSwitch,
  SWITCH_FAILED: ExitCode.failedBeforeSwitch,
  INTERRUPTED: ExitCode.failedBeforeSwitch,
  VERIFY_FAILED: ExitCode.rolledBack,
  ROLLED_BACK: ExitCode.rolledBack,
  LOCKED: ExitCode.locked,
  /** A release found its lock gone (its connection cut, or cleared): it stopped and touched nothing more. */
  LOCK_LOST: ExitCode.locked,
  /** Rollback found no known-good pool to switch to. */
  NO_ROLLBACK_TARGET: ExitCode.needsHuman,
  UNFINISHED_RELEASE: ExitCode.locked,
  PLAN_CHANGED: ExitCode.locked,
  NOTHING_TO_RESUME: ExitCode.usage,
  ROLLBACK_FAILED: ExitCode.needsHuman,
  ROLLBACK_UNSAFE: ExitCode.needsHuman,
  NO_STANDBY: ExitCode.needsHuman,
  CONTRACT_FAILED: ExitCode.needsHuman,
  CONTRACT_UNSAFE: ExitCode.needsHuman,
  NOT_CONFIRMED: ExitCode.usage,
  /** The release stopped at an approve step, unfinished (not failed), the lock released. */
  AWAITING_APPROVAL: ExitCode.awaitingApproval,
  /** Nobody approved in time: the gate's onTimeout switched back or closed the release. */
  APPROVAL_TIMED_OUT: ExitCode.failedBeforeSwitch,
  /** The load balancer API kept throttling after the SDK's retries. */
  LB_THROTTLED: ExitCode.failedBeforeSwitch,
} as const satisfies Record<string, ExitCodeValue>

export type ErrorCode = keyof typeof exitCodes

export interface BluegreenErrorOptions {
  code: ErrorCode
  message: string
  /** What the user should do next. Always say something actionable. */
  hint?: string
  /** Extra lines (one per finding, per failing target, …) printed under the message. */
  details?: string[]
  /** Overrides the exit code implied by `code` (e.g. a failure after the switch). */
  exitCode?: ExitCodeValue
  cause?: unknown
}

let planInHints: string | undefined

/**
 * The plan file as the user named it: from then on, a hint's next step names it instead of the
 * placeholder `PLAN` ("`bluegreen release plans/shop.yaml --resume`"), so it can be copied as is.
 * The cli layer sets it once it knows the plan (src/cli/invocation.ts requirePlan).
 */
export function setPlanForHints(file: string | undefined): void {
  planInHints =
    file === undefined ? undefined : /^[\w@%+=:,./-]+$/.test(file) ? file : `'${file.replace(/'/g, `'\\''`)}'`
}

/** `PLAN` in a hint as the plan's path, when the command knows it. */
export function withPlanPath(text: string): string {
  return planInHints === undefined ? text : text.replace(/\bPLAN\b/g, () => planInHints!)
}

export class BluegreenError extends Error {
  readonly code: ErrorCode
  readonly hint?: string
  readonly details: string[]
  readonly exitCode: ExitCodeValue

  constructor(options: BluegreenErrorOptions) {
    super(redact(options.message), options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'BluegreenError'
    this.code = options.code
    this.hint = options.hint === undefined ? undefined : redact(withPlanPath(options.hint))
    this.details = (options.details ?? []).map(redact)
    this.exitCode = options.exitCode ?? exitCodes[options.code]
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string; details: string[]; exitCode: number } {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      details: this.details,
      exitCode: this.exitCode,
    }
  }
}

export function isBluegreenError(error: unknown): error is BluegreenError {
  return error instanceof BluegreenError
}

/**
 * A broken invariant: bluegreen's own mistake, not the user's. It prints with its stack trace
 * and asks for a bug report; nothing about the user's plan or systems can fix it.
 */
export class BugError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`bug: ${redact(message)}`, options)
    this.name = 'BugError'
  }
}

/** Renders a user-facing error the same way in every command (plain text, no stack). */
export function formatError(error: BluegreenError): string {
  const lines = [`Error [${error.code}]: ${error.message}`]
  for (const detail of error.details) lines.push(`  ${detail}`)
  if (error.hint) lines.push(`Hint: ${error.hint}`)
  return lines.join('\n')
}
