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
import { readFileSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { BluegreenError } from '../../errors.js'
import {
  loadSqlParser,
  parseSqlFile,
  parseSqlFileWith,
  SqlSyntaxError,
  type LineComment,
  type Position,
  type SqlStatement,
} from '../sql-file.js'
import { checkStatement, FileContext, type Hit } from './checks.js'
import { SchemaKnowledge } from './knowledge.js'
import { clauseEnd, endOfNode } from './span.js'
import { isRuleId, lintRules, ruleById, type MigrationPhase, type RuleId, type Severity } from './rules.js'

export { lintRules, type LintRule, type MigrationPhase, type RuleId, type Severity } from './rules.js'
export { SchemaKnowledge, type ColumnType } from './knowledge.js'

export interface Finding {
  rule: RuleId
  severity: Severity
  message: string
  hint: string
  file: string
  line: number
  column: number
  /**
   * Where the offending part ends (just past it): the table's name, the clause (a column
   * definition, a constraint, an ALTER TABLE command), or the statement when nothing narrower
   * is known.
   */
  end: { line: number; column: number }
  /** The rule's section of the README (`README.md#lint-rule-drop-column`). */
  docs: string
}

export interface ParseFailure {
  rule: 'syntax-error'
  file: string
  line: number
  column: number
  message: string
}

/** Per-rule levels: what a config file (or a plan's `lint:` section) says for a file's directory. */
export type RuleLevels = Partial<Record<RuleId, Severity | 'off'>>

export interface LintOptions {
  /** What earlier files of the directory (and the live catalog) established. */
  knowledge?: SchemaKnowledge
  levels?: RuleLevels
}

export interface LintResult {
  findings: Finding[]
  parseErrors: ParseFailure[]
  /** The files that were linted, in order. */
  files: string[]
}

/** Lints one file's SQL. Throws SqlSyntaxError (code SQL_PARSE) when it does not parse. */
export async function lintSql(
  sql: string,
  file: string,
  phase: MigrationPhase,
  options: LintOptions = {},
): Promise<Finding[]> {
  const { statements } = await parseSqlFile(sql, file)
  return lintStatements(statements, file, phase, options)
}

/** Lints statements that are already parsed (the runner parses each file once). */
export function lintStatements(
  statements: SqlStatement[],
  file: string,
  phase: MigrationPhase,
  options: LintOptions = {},
): Finding[] {
  const context = new FileContext(options.knowledge)
  const levels = options.levels ?? {}
  const findings: Finding[] = []
  const applies = (rule: RuleId) => appliesIn(rule, phase) && levels[rule] !== 'off'
  const finding = (rule: RuleId, message: string, at: Position, end: Position, severity?: Severity) => {
    const level = levels[rule] === 'error' || levels[rule] === 'warning' ? levels[rule] : severity
    const found = toFinding(rule, message, file, at, end)
    return level === undefined ? found : { ...found, severity: level }
  }
  for (const statement of statements) {
    const allows = parseAllowComments(statement.commentsAbove, statement.start.line)
    for (const bad of allows.bad)
      if (applies('bad-allow-comment'))
        findings.push(finding('bad-allow-comment', bad.message, bad.comment, bad.comment))
    // The runner commits before and after a statement that runs alone: no lock survives it.
    const alone = statement.outsideTransaction || statement.ownTransaction
    if (alone || statement.startsTransaction) context.lockHeldBy = undefined
    const hits = checkWithBody(statement, context).filter((hit) => applies(hit.rule))
    if (alone) context.lockHeldBy = undefined
    for (const hit of hits) {
      if (allows.allowed.has(hit.rule)) continue
      const { at, end } = spanOf(statement, hit)
      findings.push(finding(hit.rule, hit.message, at, end, hit.severity))
    }
    // A stale allow comment would silence the next unsafe change made to this statement.
    for (const [rule, comment] of allows.allowed) {
      if (appliesIn(rule, phase) && !hits.some((hit) => hit.rule === rule)) {
        findings.push(
          finding(
            'bad-allow-comment',
            `bluegreen:allow ${rule} silences nothing: the statement below does not trip ${rule}`,
            comment,
            comment,
          ),
        )
      }
    }
  }
  return findings.sort((a, b) => a.line - b.line || a.column - b.column)
}

/**
 * Where a hit starts and ends: the command its `near` pattern finds, to the end of that clause;
 * the node at its location, to the end of the name or clause there (span.ts); or the whole
 * statement (and a DO block's statements are placed at their start in the block).
 */
function spanOf(statement: SqlStatement, hit: Hit & { at?: Position }): { at: Position; end: Position } {
  if (hit.at) return { at: hit.at, end: statement.end }
  const match = hit.near?.exec(statement.text)
  if (match) {
    const end = clauseEnd(statement.text, match.index)
    return { at: statement.positionInText(match.index), end: statement.positionInText(end) }
  }
  const at = statement.positionOf(hit.location)
  if (hit.location === undefined) return { at, end: statement.end }
  return { at, end: endOfNode(statement, statement.node, hit.location, at) }
}

/**
 * A statement's hits; for a DO block, those of the statements in its body (each placed where
 * its text starts in the block), or do-block when the body cannot be read.
 */
function checkWithBody(statement: SqlStatement, context: FileContext): (Hit & { at?: Position })[] {
  const body = statement.doBody
  if (body === undefined) return checkStatement(statement.node, context)
  if ('unreadable' in body)
    return [{ rule: 'do-block', message: `DO block with ${body.unreadable}: the linter cannot check it` }]
  return body.statements.flatMap(({ node, text }) => {
    const index = statement.text.indexOf(text.trim().split('\n')[0])
    const at = index >= 0 ? statement.positionInText(index) : statement.start
    return checkStatement(node, context).map((hit) => ({ ...hit, at }))
  })
}

/**
 * Lints files and directories (every .sql file below a directory, in path order). A file that
 * does not parse is reported in `parseErrors`; the others are still linted.
 */
export async function lintPaths(
  paths: string[],
  phase: MigrationPhase,
  options: {
    /** Reads `-` (standard input); the file is called `stdin`. */
    readStdin?: () => Promise<string>
    levelsFor?: (file: string) => RuleLevels
  } = {},
): Promise<LintResult> {
  // The parser's WASM compiles on background threads while the files are listed (a failure to
  // load it shows once they are: a missing path is reported first).
  const parser = loadSqlParser()
  parser.catch(() => undefined)
  const files: string[] = []
  for (const path of paths) files.push(...(path === '-' ? ['-'] : await sqlFilesUnder(path)))
  const parse = await parser
  const findings: Finding[] = []
  const parseErrors: ParseFailure[] = []
  // Earlier files of a directory ran before the later ones: what they proved carries over.
  const knowledgeByDir = new Map<string, SchemaKnowledge>()
  const names: string[] = []
  for (const path of files) {
    const file = path === '-' ? 'stdin' : path
    names.push(file)
    // Read synchronously: a file per thread-pool round trip (open, stat, read, close, each awaited)
    // left the process idle most of the time on a directory of 1,000 small files.
    const sql = path === '-' ? await (options.readStdin ?? readStdinText)() : readFileSync(path, 'utf8')
    const dir = dirname(file)
    const knowledge = knowledgeByDir.get(dir) ?? new SchemaKnowledge()
    knowledgeByDir.set(dir, knowledge)
    try {
      const { statements } = parseSqlFileWith(parse, sql, file)
      findings.push(
        ...lintStatements(statements, file, phase, { knowledge, levels: options.levelsFor?.(file) }),
      )
    } catch (error) {
      if (!(error instanceof SqlSyntaxError)) throw error
      parseErrors.push({ rule: 'syntax-error', file, ...error.at, message: error.reason })
    }
  }
  return { findings, parseErrors, files: names }
}

async function readStdinText(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** `file:line:col: error: message [rule-id]`, then the hint indented: as a compiler prints it. */
export function formatFinding(finding: Finding): string {
  return `${gccLine(finding)}\n  hint: ${finding.hint}`
}

/** The one line editors' and CI's problem matchers read (gcc's format). */
export function gccLine(
  finding: Pick<Finding, 'file' | 'line' | 'column' | 'severity' | 'message' | 'rule'>,
): string {
  return `${finding.file}:${finding.line}:${finding.column}: ${finding.severity}: ${finding.message} [${finding.rule}]`
}

/** The README anchor of a rule's entry. */
export function ruleDocs(rule: RuleId): string {
  return `README.md#lint-rule-${rule}`
}

function appliesIn(rule: RuleId, phase: MigrationPhase): boolean {
  return ruleById(rule).phases.includes(phase)
}

function toFinding(rule: RuleId, message: string, file: string, at: Position, end: Position): Finding {
  const { severity, hint } = ruleById(rule)
  const { line, column } = end.line > at.line || end.column > at.column ? end : at
  return {
    rule,
    severity,
    message,
    hint,
    file,
    line: at.line,
    column: at.column,
    end: { line, column },
    docs: ruleDocs(rule),
  }
}

const noAllows = { allowed: new Map<RuleId, LineComment>(), bad: [] }

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
  // Most statements have no comment above them: nothing to read, nothing to allocate.
  if (comments.length === 0) return noAllows
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
  if (path.trim() === '') {
    throw new BluegreenError({
      code: 'USAGE',
      message: 'an empty path was given',
      hint: 'give .sql files, directories of them, or - for standard input (is a variable in the command unset?)',
    })
  }
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
  const files = await sqlFilesIn(path)
  if (files.length === 0) {
    throw new BluegreenError({
      code: 'USAGE',
      message: `no .sql files in ${path}`,
      hint: 'check the path: give .sql files, directories of them, or - for standard input',
    })
  }
  return files
}

/**
 * A directory's files as the runner lists them (listMigrationFiles: links followed, bad entries
 * refused), then those of its subdirectories, for a tree of migration directories. Hidden
 * directories are skipped: a Kubernetes ConfigMap's `..data` holds the same files again.
 */
async function sqlFilesIn(path: string): Promise<string[]> {
  const { listMigrationFiles, shownPath } = await import('../migration-files.js')
  const files = (await listMigrationFiles(path)).map(shownPath)
  const entries = await readdir(path, { withFileTypes: true })
  for (const name of entries.map((e) => e.name).sort(byCodePoint)) {
    if (name.startsWith('.') || name.endsWith('.sql')) continue
    const full = join(path, name)
    const isDir = await stat(full).then(
      (info) => info.isDirectory(),
      () => false,
    )
    if (isDir) files.push(...(await sqlFilesIn(full)))
  }
  return files
}

/** File-name order that does not depend on the locale. */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
