/**
 * Checks a plan's declared syncs when it loads: each `forward` and `backward` expression is one
 * SQL expression as far as a lexical scan can tell (quotes and parentheses balanced, no `;` or
 * top-level `,`), and a column is not both a new and an old one. The scan is pure JS because every
 * command loads the plan, rollback included, and must not pay for the SQL parser (a WASM module).
 * installSync parses each expression with PostgreSQL's own parser (src/db/sync-expressions.ts)
 * before it touches the database, and checks the columns against the table before installing.
 */
import type { RawIssue } from '../format/issues.js'
import type { PlanPath } from '../format/issues.js'
import type { SyncDeclaration } from '../format/parts.js'

/** The issues of an expand phase's `sync` list; `at` is the phase's path (`phases[3].expand`). */
export function syncIssues(
  syncs: readonly SyncDeclaration[],
  at: PlanPath,
  offsetOfText: (path: PlanPath, text: string) => number,
): RawIssue[] {
  const issues: RawIssue[] = []
  {
    for (const [position, sync] of syncs.entries()) {
      const base = [...at, 'sync', position]
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
          const problem = lexicalProblem(expression)
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

/** A lexical reason why `expression` is not one SQL expression, with the character index. */
export function lexicalProblem(expression: string): { index: number; message: string } | undefined {
  let depth = 0
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i]
    if (c === "'" || c === '"') {
      const end = expression.indexOf(c, i + 1)
      if (end === -1)
        return { index: i, message: `does not parse: unterminated ${c === "'" ? 'string' : 'quoted name'}` }
      i = end
    } else if (c === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(expression.slice(i))?.[0]
      if (tag) {
        const end = expression.indexOf(tag, i + tag.length)
        if (end === -1) return { index: i, message: 'does not parse: unterminated dollar-quoted string' }
        i = end + tag.length - 1
      }
    } else if (c === '(') depth++
    else if (c === ')') {
      if (--depth < 0) return { index: i, message: 'is not one SQL expression (unbalanced parenthesis)' }
    } else if (c === ';' || (c === ',' && depth === 0))
      return { index: i, message: 'is not one SQL expression' }
  }
  if (depth > 0) return { index: expression.length, message: 'does not parse: syntax error at end of input' }
  if (expression.trim() === '') return { index: 0, message: 'is empty' }
  return undefined
}

/** PostgreSQL's parser's verdict (src/db/sync-expressions.ts, which installSync runs first). */
export async function expressionProblem(
  expression: string,
): Promise<{ index: number; message: string } | undefined> {
  const { expressionProblem: parsed } = await import('../db/sync-expressions.js')
  return parsed(expression)
}
