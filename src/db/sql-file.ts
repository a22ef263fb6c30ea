/**
 * A .sql file as PostgreSQL's own parser sees it (libpg-query, the real grammar compiled to WASM):
 * its statements, where each starts (line and column), the comments directly above each one, and
 * whether a statement can run inside a transaction. The runner and the linter share this view.
 *
 * libpg-query reports locations as UTF-8 byte offsets into the whole text, so positions are
 * converted here once, and everything outside this file speaks lines and columns.
 */
import type { Node, ParseResult } from 'libpg-query'
import { BluegreenError } from '../errors.js'
import { statementsOfDoBody } from './plpgsql-body.js'

export interface Position {
  /** 1-based. */
  line: number
  /** 1-based, in characters. */
  column: number
}

export interface LineComment extends Position {
  /** The comment's text after `--`, trimmed. */
  text: string
}

export interface SqlStatement {
  /** 0-based index in the file. */
  index: number
  node: Node
  /** The statement's own text, from its first token to its end (no leading comments, no `;`). */
  text: string
  /** Where the first token is. */
  start: Position
  /** `--` comments on their own lines between the previous statement and this one. */
  commentsAbove: LineComment[]
  /** Whether PostgreSQL refuses to run it inside a transaction block. */
  outsideTransaction: boolean
  /**
   * Whether the runner gives it a transaction of its own, after the statements before it have
   * committed: it scans a table under a lock that lets the application work (VALIDATE
   * CONSTRAINT), and must not do so while an earlier statement's ACCESS EXCLUSIVE lock is held.
   */
  ownTransaction: boolean
  /** Where the statement's text ends (just past its last character). */
  end: Position
  /** For a DO block: the statements of its body as parsed SQL, or why they cannot be read. */
  doBody?: { statements: { node: Node; text: string }[] } | { unreadable: string }
  /** Converts a byte offset from the parse tree (a node's `location`) into a position. */
  positionOf(byteOffset: number | undefined): Position
  /** Converts a character index into `text` (e.g. PostgreSQL's error position − 1) into a position. */
  positionInText(charIndex: number): Position
}

export interface SqlFile {
  file: string
  statements: SqlStatement[]
}

/** Parses a file into statements. A syntax error is a BluegreenError `SQL_PARSE` naming file:line:col. */
export async function parseSqlFile(sql: string, file: string): Promise<SqlFile> {
  const { parse, parseSync } = await import('libpg-query')
  let result: ParseResult
  try {
    result = (await parse(sql)) as ParseResult
  } catch (error) {
    const details = (error as { sqlDetails?: { cursorPosition?: number } }).sqlDetails
    // libpg-query reports the cursor as a 0-based character index.
    const at = positionOfChar(sql, details?.cursorPosition ?? 0)
    throw new SqlSyntaxError(file, at, (error as Error).message, error)
  }
  const text = new SourceText(sql)
  const statements: SqlStatement[] = []
  let previousEnd = 0
  for (const [index, raw] of (result.stmts ?? []).entries()) {
    if (!raw.stmt) continue
    const location = raw.stmt_location ?? 0
    const end = raw.stmt_len ? location + raw.stmt_len : text.byteLength
    const first = text.skipTrivia(location, end)
    statements.push({
      index,
      node: raw.stmt,
      text: text.slice(first, end),
      start: text.positionOf(first),
      commentsAbove: text.lineComments(previousEnd, first),
      outsideTransaction: runsOutsideTransaction(raw.stmt),
      ownTransaction: runsInOwnTransaction(raw.stmt),
      end: text.positionOf(end),
      doBody: 'DoStmt' in raw.stmt ? parseDoBody(raw.stmt.DoStmt.args, parseSync) : undefined,
      positionOf: (byteOffset) => text.positionOf(byteOffset ?? first),
      positionInText: (charIndex) => {
        const before = text.slice(first, end).slice(0, Math.max(0, charIndex))
        return text.positionOf(first + Buffer.byteLength(before, 'utf8'))
      },
    })
    previousEnd = end
  }
  return { file, statements }
}

/** A PL/pgSQL DO block's statements (see plpgsql-body.ts), each parsed by PostgreSQL's grammar. */
function parseDoBody(
  args: Node[] | undefined,
  parseSync: (sql: string) => ParseResult,
): SqlStatement['doBody'] {
  const option = (name: string) =>
    args?.flatMap((a) =>
      'DefElem' in a && a.DefElem.defname === name && a.DefElem.arg && 'String' in a.DefElem.arg
        ? [a.DefElem.arg.String.sval ?? '']
        : [],
    )[0]
  const language = option('language') ?? 'plpgsql'
  if (language.toLowerCase() !== 'plpgsql') return { unreadable: `a DO block in ${language}` }
  const body = statementsOfDoBody(option('as') ?? '')
  if ('unreadable' in body) return body
  const statements: { node: Node; text: string }[] = []
  for (const text of body.statements) {
    try {
      for (const raw of parseSync(text).stmts ?? []) if (raw.stmt) statements.push({ node: raw.stmt, text })
    } catch {
      return { unreadable: `a statement the linter cannot parse: ${text.split('\n')[0].slice(0, 60)}` }
    }
  }
  return { statements }
}

/** A file that does not parse; says where, like a compiler. */
export class SqlSyntaxError extends BluegreenError {
  constructor(
    readonly file: string,
    readonly at: Position,
    readonly reason: string,
    cause?: unknown,
  ) {
    super({
      code: 'SQL_PARSE',
      message: `${file}:${at.line}:${at.column}: ${reason}`,
      hint: 'fix the SQL syntax; files are parsed with PostgreSQL’s own grammar',
      cause,
    })
  }
}

/**
 * Statements PostgreSQL refuses inside a transaction block ("cannot run inside a transaction
 * block"); the runner runs each of these alone, in autocommit.
 */
export function runsOutsideTransaction(node: Node): boolean {
  if ('IndexStmt' in node) return node.IndexStmt.concurrent === true
  if ('DropStmt' in node) return node.DropStmt.concurrent === true
  if ('ReindexStmt' in node) {
    const { ReindexStmt: reindex } = node
    const concurrently = optionEnabled(reindex.params, 'concurrently')
    return (
      concurrently || reindex.kind === 'REINDEX_OBJECT_SYSTEM' || reindex.kind === 'REINDEX_OBJECT_DATABASE'
    )
  }
  if ('VacuumStmt' in node) return node.VacuumStmt.is_vacuumcmd === true
  if ('AlterTableStmt' in node) {
    return (node.AlterTableStmt.cmds ?? []).some(
      (cmd) =>
        'AlterTableCmd' in cmd &&
        cmd.AlterTableCmd.subtype === 'AT_DetachPartition' &&
        cmd.AlterTableCmd.def !== undefined &&
        'PartitionCmd' in cmd.AlterTableCmd.def &&
        cmd.AlterTableCmd.def.PartitionCmd.concurrent === true,
    )
  }
  if ('ClusterStmt' in node) return node.ClusterStmt.relation === undefined
  return (
    'CreatedbStmt' in node ||
    'DropdbStmt' in node ||
    'CreateTableSpaceStmt' in node ||
    'DropTableSpaceStmt' in node ||
    'AlterSystemStmt' in node
  )
}

/**
 * Statements that scan a table under a lock weaker than ACCESS EXCLUSIVE (SHARE UPDATE
 * EXCLUSIVE: reads and writes go on). In one transaction with an earlier ALTER TABLE they would
 * scan while holding its ACCESS EXCLUSIVE lock, so the runner commits what comes before them
 * first. (Only when the statement does nothing else: `ADD …, VALIDATE …` in one ALTER TABLE
 * cannot be split, and the linter says so.)
 */
export function runsInOwnTransaction(node: Node): boolean {
  if ('AlterTableStmt' in node) {
    const cmds = node.AlterTableStmt.cmds ?? []
    return (
      cmds.length > 0 &&
      cmds.every((cmd) => 'AlterTableCmd' in cmd && cmd.AlterTableCmd.subtype === 'AT_ValidateConstraint')
    )
  }
  if ('AlterDomainStmt' in node) return node.AlterDomainStmt.subtype === 'V'
  // ANALYZE (not VACUUM, which already runs alone) reads a sample under SHARE UPDATE EXCLUSIVE.
  if ('VacuumStmt' in node) return node.VacuumStmt.is_vacuumcmd !== true
  return false
}

/**
 * Whether a statement's option is on: `(CONCURRENTLY)`, `(CONCURRENTLY true)`, `(FULL 1)` are;
 * `(CONCURRENTLY false)`, `(FULL off)`, `(FULL 0)` and an absent option are not.
 */
export function optionEnabled(options: Node[] | undefined, name: string): boolean {
  for (const option of options ?? []) {
    if (!('DefElem' in option) || option.DefElem.defname !== name) continue
    const arg = option.DefElem.arg
    if (arg === undefined) return true
    if ('Boolean' in arg) return arg.Boolean.boolval === true
    if ('Integer' in arg) return (arg.Integer.ival ?? 0) !== 0
    if ('String' in arg) return !/^(false|off|no|0)$/i.test(arg.String.sval ?? '')
    if ('A_Const' in arg) {
      const value = arg.A_Const
      if (value.boolval) return value.boolval.boolval === true
      if (value.ival) return (value.ival.ival ?? 0) !== 0
      if (value.sval) return !/^(false|off|no|0)$/i.test(value.sval.sval ?? '')
    }
    return true
  }
  return false
}

/** The file's text with byte offsets, lines and comments worked out. */
class SourceText {
  private readonly bytes: Buffer
  /** Byte offset where each line starts. */
  private readonly lineStarts: number[] = [0]

  constructor(sql: string) {
    this.bytes = Buffer.from(sql, 'utf8')
    for (let i = 0; i < this.bytes.length; i++) if (this.bytes[i] === 0x0a) this.lineStarts.push(i + 1)
  }

  get byteLength(): number {
    return this.bytes.length
  }

  slice(from: number, to: number): string {
    return this.bytes.subarray(from, to).toString('utf8')
  }

  positionOf(byteOffset: number): Position {
    const offset = Math.max(0, Math.min(byteOffset, this.bytes.length))
    let low = 0
    let high = this.lineStarts.length - 1
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if (this.lineStarts[mid] <= offset) low = mid
      else high = mid - 1
    }
    const column = this.bytes.subarray(this.lineStarts[low], offset).toString('utf8').length + 1
    return { line: low + 1, column }
  }

  /** The first byte at or after `from` that is neither whitespace, a comment nor a stray `;`. */
  skipTrivia(from: number, to: number): number {
    let i = from
    while (i < to) {
      const c = this.bytes[i]
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c || c === 0x3b) i++
      else if (c === 0x2d && this.bytes[i + 1] === 0x2d) i = this.lineEnd(i)
      else if (c === 0x2f && this.bytes[i + 1] === 0x2a) i = this.blockCommentEnd(i, to)
      else break
    }
    return i
  }

  /** `--` comments that start their own line within [from, to): the comments "directly above". */
  lineComments(from: number, to: number): LineComment[] {
    const comments: LineComment[] = []
    let i = from
    while (i < to) {
      const c = this.bytes[i]
      if (c === 0x2d && this.bytes[i + 1] === 0x2d) {
        const end = this.lineEnd(i)
        const position = this.positionOf(i)
        const lineStart = this.lineStarts[position.line - 1]
        const before = this.slice(lineStart, i)
        if (before.trim() === '') comments.push({ ...position, text: this.slice(i + 2, end).trim() })
        i = end
      } else if (c === 0x2f && this.bytes[i + 1] === 0x2a) {
        i = this.blockCommentEnd(i, to)
      } else {
        i++
      }
    }
    return comments
  }

  private lineEnd(from: number): number {
    const newline = this.bytes.indexOf(0x0a, from)
    return newline === -1 ? this.bytes.length : newline
  }

  /** Block comments nest in PostgreSQL. */
  private blockCommentEnd(from: number, to: number): number {
    let depth = 0
    let i = from
    while (i < to) {
      if (this.bytes[i] === 0x2f && this.bytes[i + 1] === 0x2a) {
        depth++
        i += 2
      } else if (this.bytes[i] === 0x2a && this.bytes[i + 1] === 0x2f) {
        depth--
        i += 2
        if (depth === 0) return i
      } else {
        i++
      }
    }
    return to
  }
}

function positionOfChar(sql: string, charIndex: number): Position {
  const before = sql.slice(0, charIndex)
  const lastNewline = before.lastIndexOf('\n')
  return { line: before.split('\n').length, column: charIndex - lastNewline }
}
