/**
 * The compatibility linter: is this migration safe while the old version still runs, and does it
 * take a lock that queues the application's queries behind it? Findings read like a compiler's
 * (file:line:col: severity rule message), each with a hint saying what to do instead.
 *
 * A finding is silenced by a comment on its own line directly above the statement:
 *   -- bluegreen:allow drop-column the old version stopped reading it in v41
 * The reason is required; an allow comment without one (or naming no known rule) silences nothing.
 *
 * libpg-query (WASM) is loaded only when a file is parsed, so importing this module is cheap.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BluegreenError } from '../../errors.js'
import { parseSqlFile, SqlSyntaxError, type LineComment, type SqlStatement } from '../sql-file.js'
import { checkStatement, FileContext } from './checks.js'
import { isRuleId, lintRules, ruleById, type MigrationPhase, type RuleId, type Severity } from './rules.js'

export { lintRules, type LintRule, type MigrationPhase, type RuleId, type Severity } from './rules.js'

export interface Finding {
  rule: RuleId
  severity: Severity
  message: string
  hint: string
  file: string
  line: number
  column: number
}

export interface ParseFailure {
  file: string
  line: number
  column: number
  message: string
}

export interface LintResult {
  findings: Finding[]
  parseErrors: ParseFailure[]
  /** The files that were linted, in order. */
  files: string[]
}

/** Lints one file's SQL. Throws SqlSyntaxError (code SQL_PARSE) when it does not parse. */
export async function lintSql(sql: string, file: string, phase: MigrationPhase): Promise<Finding[]> {
  const { statements } = await parseSqlFile(sql, file)
  return lintStatements(statements, file, phase)
}

/** Lints statements that are already parsed (the runner parses each file once). */
export function lintStatements(statements: SqlStatement[], file: string, phase: MigrationPhase): Finding[] {
  const context = new FileContext()
  const findings: Finding[] = []
  for (const statement of statements) {
    const allows = parseAllowComments(statement.commentsAbove, statement.start.line)
    for (const bad of allows.bad)
      findings.push(toFinding('bad-allow-comment', bad.message, file, bad.comment))
    const hits = checkStatement(statement.node, context).filter((hit) => appliesIn(hit.rule, phase))
    for (const hit of hits) {
      if (allows.allowed.has(hit.rule)) continue
      const index = hit.near ? statement.text.search(hit.near) : -1
      const at = index >= 0 ? statement.positionInText(index) : statement.positionOf(hit.location)
      findings.push(toFinding(hit.rule, hit.message, file, at))
    }
    // A stale allow comment would silence the next unsafe change made to this statement.
    for (const [rule, comment] of allows.allowed) {
      if (appliesIn(rule, phase) && !hits.some((hit) => hit.rule === rule)) {
        findings.push(
          toFinding(
            'bad-allow-comment',
            `bluegreen:allow ${rule} silences nothing: the statement below does not trip ${rule}`,
            file,
            comment,
          ),
        )
      }
    }
  }
  return findings.sort((a, b) => a.line - b.line || a.column - b.column)
}

/**
 * Lints files and directories (every .sql file below a directory, in path order). A file that
 * does not parse is reported in `parseErrors`; the others are still linted.
 */
export async function lintPaths(paths: string[], phase: MigrationPhase): Promise<LintResult> {
  const files: string[] = []
  for (const path of paths) files.push(...(await sqlFilesUnder(path)))
  const findings: Finding[] = []
  const parseErrors: ParseFailure[] = []
  for (const file of files) {
    const sql = await readFile(file, 'utf8')
    try {
      findings.push(...(await lintSql(sql, file, phase)))
    } catch (error) {
      if (!(error instanceof SqlSyntaxError)) throw error
      parseErrors.push({ file, ...error.at, message: error.reason })
    }
  }
  return { findings, parseErrors, files }
}

/** `file:line:col: error rule-id message`, then the hint indented: one finding as a compiler prints it. */
export function formatFinding(finding: Finding): string {
  return `${finding.file}:${finding.line}:${finding.column}: ${finding.severity} ${finding.rule} ${finding.message}\n  hint: ${finding.hint}`
}

function appliesIn(rule: RuleId, phase: MigrationPhase): boolean {
  return ruleById(rule).phases.includes(phase)
}

function toFinding(
  rule: RuleId,
  message: string,
  file: string,
  at: { line: number; column: number },
): Finding {
  const { severity, hint } = ruleById(rule)
  return { rule, severity, message, hint, file, line: at.line, column: at.column }
}

const allowPattern = /^bluegreen:allow\b\s*(\S*?):?(?:\s+(.*))?$/

/**
 * Reads the `bluegreen:allow` comments above a statement. Only the block of comment lines that
 * ends on the line right above the statement counts ("directly above"); an allow comment further
 * up is reported, because it silences nothing.
 */
function parseAllowComments(
  comments: LineComment[],
  statementLine: number,
): {
  allowed: Map<RuleId, LineComment>
  bad: { comment: LineComment; message: string }[]
} {
  const allowed = new Map<RuleId, LineComment>()
  const bad: { comment: LineComment; message: string }[] = []
  const attached = new Set<LineComment>()
  for (
    let line = statementLine - 1, i = comments.length - 1;
    i >= 0 && comments[i].line === line;
    i--, line--
  ) {
    attached.add(comments[i])
  }
  for (const comment of comments) {
    const match = allowPattern.exec(comment.text)
    if (!match) continue
    const ids = match[1].split(',').filter(Boolean)
    const reason = (match[2] ?? '').trim()
    const unknown = ids.filter((id) => !isRuleId(id))
    if (!attached.has(comment)) {
      bad.push({
        comment,
        message: 'bluegreen:allow is not directly above a statement, so it silences nothing',
      })
      continue
    }
    if (ids.length === 0) {
      bad.push({ comment, message: 'bluegreen:allow names no rule' })
    } else if (unknown.length > 0) {
      bad.push({
        comment,
        message: `bluegreen:allow names unknown rule ${unknown.join(', ')} (known: ${lintRules.map((r) => r.id).join(', ')})`,
      })
    } else if (reason === '') {
      bad.push({
        comment,
        message: `bluegreen:allow ${ids.join(',')} gives no reason, so it silences nothing`,
      })
    }
    if (reason !== '') for (const id of ids) if (isRuleId(id)) allowed.set(id, comment)
  }
  return { allowed, bad }
}

async function sqlFilesUnder(path: string): Promise<string[]> {
  let info
  try {
    info = await stat(path)
  } catch {
    throw new BluegreenError({
      code: 'USAGE',
      message: `no such file or directory: ${path}`,
      hint: 'give .sql files or directories of them',
    })
  }
  if (!info.isDirectory()) return [path]
  const entries = await readdir(path, { withFileTypes: true })
  const names = entries.map((e) => e.name).sort(byCodePoint)
  const files: string[] = []
  for (const name of names) {
    const entry = entries.find((e) => e.name === name)!
    const full = join(path, name)
    if (entry.isDirectory()) files.push(...(await sqlFilesUnder(full)))
    else if (name.endsWith('.sql')) files.push(full)
  }
  return files
}

/** File-name order that does not depend on the locale. */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
