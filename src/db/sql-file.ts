/**
 * A .sql file as PostgreSQL's own parser sees it (libpg-query, the real grammar compiled to WASM):
 * its statements, where each starts (line and column), the comments directly above each one, and
 * whether a statement can run inside a transaction. The runner and the linter share this view.
 *
 * libpg-query reports locations as UTF-8 byte offsets into the whole text, so positions are
 * converted here once, and everything outside this file speaks lines and columns.
 */
import { createRequire } from 'node:module'
import { setFlagsFromString } from 'node:v8'
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
   * Whether the statement starts a transaction: the first of a BEGIN … COMMIT block of the file,
   * or the first after one (withoutTransactionBlocks). The runner commits before it.
   */
  startsTransaction?: boolean
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

/**
 * libpg-query's WASM module, called directly rather than through the package's wrapper: the
 * wrapper copies the SQL in and the JSON out with byte-by-byte JavaScript loops (and scans for
 * the terminating NUL the same way), which on a file of 10,000 statements cost as much as a
 * third of the parse. Here the bytes go in with one copy and the JSON comes out through
 * TextDecoder. The structs read are libpg-query's PgQueryParseResult and PgQueryError.
 */
interface PgQueryModule {
  HEAPU8: Uint8Array
  HEAPU32: Uint32Array
  _malloc(size: number): number
  _free(pointer: number): void
  _wasm_parse_query_raw(sql: number): number
  _wasm_free_parse_result(result: number): void
}

/** Parses SQL (its UTF-8 bytes) into libpg-query's JSON tree; throws SqlParseError. */
export type SqlParser = (sql: Uint8Array) => ParseResult

/** A statement PostgreSQL's grammar rejects: its message and the 0-based character of the error. */
export class SqlParseError extends Error {
  constructor(
    message: string,
    readonly cursorPosition: number,
  ) {
    super(message)
  }
}

let parserLoading: Promise<SqlParser> | undefined

/**
 * Loads and instantiates the parser once per process; callers may start it early, so that its
 * compilation (on V8's background threads) overlaps other start-up work.
 *
 * In a process that only lints (the CLI), pass `onePass`, before anything else loads it: V8 then
 * compiles the whole module with its baseline compiler (Liftoff) alone, up front. A lint run
 * parses each file once, so the optimising compiler's work (on every core, while the parser
 * already runs) costs more than it wins: the first parse of a file of 10,000 statements took
 * 0.45 s with it and 0.15 s without (bench/lint.ts). And compiled up front, the compile runs on
 * another core while the linter's modules load, instead of function by function on the main
 * thread during the first parse (11 ms of a one-line file's run). The flags are V8's and
 * process-wide, so a long-lived process (the release runner) keeps the defaults.
 */
export function loadSqlParser({ onePass = false }: { onePass?: boolean } = {}): Promise<SqlParser> {
  if (parserLoading === undefined && onePass) setFlagsFromString(onePassFlags())
  parserLoading ??= (async () => {
    const factory = createRequire(import.meta.url)(
      'libpg-query/wasm/libpg-query.js',
    ) as () => Promise<PgQueryModule>
    const wasm = await factory()
    return (sql: Uint8Array) => parseWith(wasm, sql)
  })()
  return parserLoading
}

/**
 * Liftoff alone, and the whole module compiled up front. Up front only on V8 12 and older
 * (Node 20, 22): set at run time on V8 13 (Node 24, 26), --no-wasm-lazy-compilation leaves the
 * module's instantiation pending forever, and a lint would exit with nothing done.
 */
function onePassFlags(): string {
  const v8Major = Number(process.versions.v8.split('.')[0])
  return v8Major <= 12 ? '--liftoff-only --no-wasm-lazy-compilation' : '--liftoff-only'
}

const utf8 = new TextDecoder()

function parseWith(wasm: PgQueryModule, sql: Uint8Array): ParseResult {
  const input = wasm._malloc(sql.length + 1)
  if (!input) throw new Error('libpg-query could not allocate memory for the SQL')
  try {
    wasm.HEAPU8.set(sql, input)
    wasm.HEAPU8[input + sql.length] = 0
    const result = wasm._wasm_parse_query_raw(input)
    if (!result) throw new Error('libpg-query could not allocate memory for the parse result')
    try {
      // The views are read after the call: the parse may have grown the memory.
      const [tree, , error] = wasm.HEAPU32.subarray(result >> 2, (result >> 2) + 3)
      if (error) {
        const message = cString(wasm, wasm.HEAPU32[error >> 2]) || 'Unknown error'
        const cursor = wasm.HEAPU32[(error + 16) >> 2] | 0
        throw new SqlParseError(message, cursor > 0 ? cursor - 1 : 0)
      }
      if (!tree) throw new Error('libpg-query returned no parse tree')
      return JSON.parse(cString(wasm, tree)) as ParseResult
    } finally {
      wasm._wasm_free_parse_result(result)
    }
  } finally {
    wasm._free(input)
  }
}

function cString(wasm: PgQueryModule, pointer: number): string {
  if (!pointer) return ''
  const heap = wasm.HEAPU8
  return utf8.decode(heap.subarray(pointer, heap.indexOf(0, pointer)))
}

/** Parses a file into statements. A syntax error is a BluegreenError `SQL_PARSE` naming file:line:col. */
export async function parseSqlFile(sql: string, file: string): Promise<SqlFile> {
  return parseSqlFileWith(await loadSqlParser(), sql, file)
}

/** parseSqlFile with the parser in hand: no await per file, for a caller that parses many. */
export function parseSqlFileWith(parse: SqlParser, sql: string, file: string): SqlFile {
  const text = new SourceText(sql)
  let result: ParseResult
  try {
    // As libpg-query's own wrapper has it: a file of nothing but blanks does not parse.
    if (sql.trim() === '') throw new SqlParseError('Query cannot be empty', 0)
    result = parse(text.bytes)
  } catch (error) {
    if (!(error instanceof SqlParseError)) throw error
    // libpg-query reports the cursor as a 0-based character index.
    throw new SqlSyntaxError(file, positionOfChar(sql, error.cursorPosition), error.message, error)
  }
  const statements: SqlStatement[] = []
  let previousEnd = 0
  for (const [index, raw] of (result.stmts ?? []).entries()) {
    if (!raw.stmt) continue
    const location = raw.stmt_location ?? 0
    const end = raw.stmt_len ? location + raw.stmt_len : text.byteLength
    const first = text.skipTrivia(location, end)
    const own = text.slice(first, end)
    const start = text.positionOf(first)
    statements.push({
      index,
      node: raw.stmt,
      text: own,
      start,
      commentsAbove: text.lineComments(previousEnd, first),
      outsideTransaction: runsOutsideTransaction(raw.stmt),
      ownTransaction: runsInOwnTransaction(raw.stmt),
      end: text.positionOf(end),
      doBody: 'DoStmt' in raw.stmt ? parseDoBody(raw.stmt.DoStmt.args, parse) : undefined,
      positionOf: (byteOffset) => text.positionOf(byteOffset ?? first),
      positionInText: (charIndex) => positionAfter(start, own, charIndex),
    })
    previousEnd = end
  }
  return { file, statements: withoutTransactionBlocks(statements) }
}

/**
 * The statements without the BEGIN … COMMIT blocks the file marks its transactions with, each
 * block's first statement (and the first after it) marked to start a transaction of its own. ORM
 * output wraps each migration in one (Django's sqlmigrate), and a hand-written file may commit the
 * ADD … NOT VALID before its VALIDATE so: the runner applies them as marked, the linter reads them
 * so. The control statements stay, for both to refuse, when they mean more than that: options on a
 * BEGIN (an isolation level, READ ONLY), COMMIT AND CHAIN, ROLLBACK or SAVEPOINT, a BEGIN inside a
 * block or a COMMIT outside one, a statement that cannot run in a transaction inside a block
 * (CREATE INDEX CONCURRENTLY: the file as written fails in psql and in every other runner), or a
 * VALIDATE after other statements of its block (which, as written, holds their locks through its
 * scan; first in a block it takes no lock the application waits for, and the runner commits it
 * before the rest as it always does).
 */
export function withoutTransactionBlocks(statements: SqlStatement[]): SqlStatement[] {
  const control = (s: SqlStatement) => ('TransactionStmt' in s.node ? s.node.TransactionStmt : undefined)
  if (!statements.some((s) => control(s) !== undefined)) return statements
  const read: SqlStatement[] = []
  let block: SqlStatement[] | undefined
  let afterBlock = false
  for (const statement of statements) {
    const stmt = control(statement)
    if (stmt === undefined) {
      if (block) block.push(statement)
      else read.push(afterBlock ? { ...statement, startsTransaction: true } : statement)
      if (!block) afterBlock = false
      continue
    }
    const begins = stmt.kind === 'TRANS_STMT_BEGIN' || stmt.kind === 'TRANS_STMT_START'
    if (block === undefined && begins && (stmt.options?.length ?? 0) === 0) {
      block = []
      continue
    }
    if (block === undefined || stmt.kind !== 'TRANS_STMT_COMMIT' || stmt.chain) return statements
    if (block.some((s) => s.outsideTransaction)) return statements
    if (block.slice(1).some((s) => s.ownTransaction)) return statements
    if (block.length > 0) read.push({ ...block[0], startsTransaction: true }, ...block.slice(1))
    block = undefined
    afterBlock = true
  }
  return block === undefined ? read : statements
}

/** The position `charIndex` characters into `text`, which starts at `start` (clamped to the text). */
function positionAfter(start: Position, text: string, charIndex: number): Position {
  const index = Math.max(0, Math.min(charIndex, text.length))
  const lastNewline = text.lastIndexOf('\n', index - 1)
  if (lastNewline === -1 || index === 0) return { line: start.line, column: start.column + index }
  let lines = 0
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) lines++
  return { line: start.line + lines, column: index - lastNewline }
}

/** A PL/pgSQL DO block's statements (see plpgsql-body.ts), each parsed by PostgreSQL's grammar. */
function parseDoBody(args: Node[] | undefined, parse: SqlParser): SqlStatement['doBody'] {
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
      for (const raw of parse(Buffer.from(text, 'utf8')).stmts ?? [])
        if (raw.stmt) statements.push({ node: raw.stmt, text })
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
  readonly bytes: Buffer
  /** Byte offset where each line starts. */
  private readonly lineStarts: number[] = [0]

  /** Whether every character is one byte (ASCII): then a column is a byte count. */
  private readonly ascii: boolean

  constructor(sql: string) {
    this.bytes = Buffer.from(sql, 'utf8')
    this.ascii = this.bytes.length === sql.length
    for (let i = this.bytes.indexOf(0x0a); i !== -1; i = this.bytes.indexOf(0x0a, i + 1))
      this.lineStarts.push(i + 1)
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
    const from = this.lineStarts[low]
    const column =
      (this.ascii ? offset - from : this.bytes.subarray(from, offset).toString('utf8').length) + 1
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
        if (this.blankBetween(this.lineStarts[position.line - 1], i))
          comments.push({ ...position, text: this.slice(i + 2, end).trim() })
        i = end
      } else if (c === 0x2f && this.bytes[i + 1] === 0x2a) {
        i = this.blockCommentEnd(i, to)
      } else {
        i++
      }
    }
    return comments
  }

  /** Whether the text in [from, to) is blank (as String.prototype.trim sees it), read as bytes when ASCII. */
  private blankBetween(from: number, to: number): boolean {
    for (let i = from; i < to; i++) {
      const c = this.bytes[i]
      if (c >= 0x80) return this.slice(from, to).trim() === ''
      if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0b && c !== 0x0c) return false
    }
    return true
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
