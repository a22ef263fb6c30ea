/**
 * Plan errors: every problem in a plan file becomes one PlanIssue with its position, its path
 * inside the plan and a hint, and all of them travel together in one PlanError (a
 * BluegreenError with code PLAN_INVALID, so the exit code and rendering stay the same).
 */
import { BluegreenError } from '../errors.js'

export type PlanPath = ReadonlyArray<string | number>

/** One problem in a plan file. `line` and `col` are 1-based; 0 when there is no position. */
export interface PlanIssue {
  file: string
  line: number
  col: number
  /** Path inside the plan, e.g. `phases[4].switch.steps[1]`; empty for the whole file. */
  path: string
  message: string
  hint: string
}

/** An issue before it has a position: where to point (a path's key or value, or an offset). */
export interface RawIssue {
  path: PlanPath
  at: 'key' | 'value' | { offset: number }
  message: string
  hint: string
}

export class PlanError extends BluegreenError {
  readonly file: string
  readonly issues: PlanIssue[]

  constructor(file: string, issues: PlanIssue[]) {
    const count = issues.length === 1 ? '1 error' : `${issues.length} errors`
    super({
      code: 'PLAN_INVALID',
      message: `${file}: ${count}`,
      hint: planErrorHint(file, issues),
      details: issues.flatMap((issue) => [formatIssue(issue), `    hint: ${issue.hint}`]),
    })
    this.name = 'PlanError'
    this.file = file
    this.issues = issues
  }

  override toJSON(): ReturnType<BluegreenError['toJSON']> & { issues: PlanIssue[] } {
    return { ...super.toJSON(), issues: this.issues }
  }
}

/**
 * A hint that stands on its own (a pipeline may show only the JSON error): the first problem's
 * place and fix, and where the others are.
 */
function planErrorHint(file: string, issues: PlanIssue[]): string {
  const [first] = issues
  if (!first) return `\`bluegreen plan validate ${file}\` lists every problem`
  const where = `${first.line > 0 ? `line ${first.line}` : file}${first.path ? ` (${first.path})` : ''}`
  const rest =
    issues.length > 1 ? `; ${issues.length - 1} more, each with file:line:col and a hint in the details` : ''
  return `${where}: ${first.hint || first.message}${rest}; \`bluegreen plan schema\` prints the whole format`
}

export function isPlanError(error: unknown): error is PlanError {
  return error instanceof PlanError
}

/** `file:line:col  path  message`, the one-line form used in details and by `plan validate`. */
export function formatIssue(issue: PlanIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.col}` : issue.file
  return `${where}  ${issue.path || '(plan)'}  ${issue.message}`
}

/** `phases[4].switch.steps[1]`; keys that are not plain names are quoted: `env["X-Y"]`. */
export function formatPath(path: PlanPath): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) out += out ? `.${segment}` : segment
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}
