/**
 * Checks a plan's declared syncs when it loads: every `forward` and `backward` expression parses
 * as one SQL expression (PostgreSQL's own parser, libpg-query), and a column is not both a new
 * and an old one. Whether the columns exist is checked against the database before installing.
 */
import type { RawIssue } from './issues.js'
import { phaseOf, type Plan } from './schema.js'

export async function syncIssues(
  plan: Plan,
  offsetOfText: (path: ReadonlyArray<string | number>, text: string) => number,
): Promise<RawIssue[]> {
  const issues: RawIssue[] = []
  for (const [index, entry] of plan.phases.entries()) {
    const { kind, config } = phaseOf(entry)
    if (kind !== 'expand' || !('sync' in config) || !config.sync) continue
    for (const [position, sync] of config.sync.entries()) {
      const base = ['phases', index, 'expand', 'sync', position]
      if ('rename' in sync) {
        if (sync.rename.column === sync.rename.to) {
          issues.push({
            path: [...base, 'rename', 'to'],
            at: 'value',
            message: `rename of ${sync.rename.column} to itself`,
            hint: 'give the new column name in `to`',
          })
        }
        continue
      }
      for (const column of Object.keys(sync.forward).filter((c) => c in sync.backward)) {
        issues.push({
          path: [...base, 'backward', column],
          at: 'key',
          message: `column ${column} is set by both forward and backward`,
          hint: 'forward sets the new columns, backward the old ones: a column is one or the other',
        })
      }
      for (const side of ['forward', 'backward'] as const) {
        for (const [column, expression] of Object.entries(sync[side])) {
          const problem = await expressionProblem(expression)
          if (!problem) continue
          const path = [...base, side, column]
          issues.push({
            path,
            // Where the expression starts in the file, plus where in it the parser stopped.
            at: { offset: offsetOfText(path, expression) + problem.index },
            message: `${side} ${column}: ${problem.message}`,
            hint: 'give one SQL expression over the row’s columns, e.g. "split_part(name, \' \', 1)"',
          })
        }
      }
    }
  }
  return issues
}

/** Why `expression` is not one SQL expression, with the character index of the problem. */
async function expressionProblem(
  expression: string,
): Promise<{ index: number; message: string } | undefined> {
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
