/**
 * Sync expressions parsed by PostgreSQL's own grammar (libpg-query, WASM) before any trigger is
 * installed, so a syntax error is a mistake in the plan (PLAN_INVALID, exit 2) named by where it
 * is in the plan, not a PostgreSQL error halfway through a release. The plan loader's check is a
 * lexical scan only (src/plan/sync-check.ts): every command loads the plan and must not pay for
 * the parser. libpg-query is imported here, on first use, so only a plan with a sync loads it.
 */
import { BluegreenError } from '../errors.js'

export interface ExpressionProblem {
  /** 0-based character index in the expression where the parser stopped. */
  index: number
  message: string
}

/** Why `expression` is not one SQL expression, by PostgreSQL's parser; undefined when it is one. */
export async function expressionProblem(expression: string): Promise<ExpressionProblem | undefined> {
  const { parse } = await import('libpg-query')
  const prefix = 'SELECT ('
  try {
    const result = (await parse(`${prefix}${expression}\n)`)) as {
      stmts?: { stmt?: { SelectStmt?: { targetList?: unknown[] } } }[]
    }
    const targets = result.stmts?.[0]?.stmt?.SelectStmt?.targetList ?? []
    if (result.stmts?.length !== 1 || targets.length !== 1) {
      return { index: 0, message: 'is not one SQL expression' }
    }
    return undefined
  } catch (error) {
    const cursor = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition ?? 0
    const index = Math.min(Math.max(0, cursor - prefix.length), expression.length)
    return { index, message: `does not parse: ${(error as Error).message}` }
  }
}

/** One expression of a sync and where it is in the plan (e.g. `phases[1].expand.sync[0].forward.first_name`). */
export interface SyncExpression {
  path: string
  expression: string
}

/**
 * Parses every expression; the first that is not one SQL expression is thrown as PLAN_INVALID,
 * naming its place in the plan and the expression.
 */
export async function checkSyncExpressions(expressions: SyncExpression[]): Promise<void> {
  for (const { path, expression } of expressions) {
    const problem = await expressionProblem(expression)
    if (!problem) continue
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `${path}: ${problem.message} (at character ${problem.index + 1} of ${JSON.stringify(expression)})`,
      hint: 'give one SQL expression over the row’s columns, e.g. "split_part(name, \' \', 1)"; `bluegreen plan validate` checks the rest of the plan',
    })
  }
}
