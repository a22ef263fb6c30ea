/**
 * Where a finding ends. PostgreSQL's parse tree gives each node where it starts, never where it
 * ends, so the end is read from the statement's text: for a table named in the statement (a
 * RangeVar), the end of that name as written (`app."Orders"`); for anything else (a column
 * definition, a constraint), the end of its clause: the next comma or closing parenthesis at its
 * own depth, or the end of the statement. Quotes, dollar quotes and comments are skipped.
 */
import type { Node } from 'libpg-query'
import type { Position, SqlStatement } from '../sql-file.js'

/** Where the text that starts at `at` (a node's location) ends, within `statement`. */
export function endOfNode(statement: SqlStatement, node: Node, location: number, at: Position): Position {
  const from = indexOf(statement, at)
  if (from === undefined) return statement.end
  const isName = namesRelationAt(node, location)
  const text = statement.text
  return statement.positionInText(isName ? nameEnd(text, from) : clauseEnd(text, from))
}

/** Whether a relation (a RangeVar: it has a `relname`) of the tree is written at `location`. */
function namesRelationAt(value: unknown, location: number): boolean {
  if (Array.isArray(value)) return value.some((item) => namesRelationAt(item, location))
  if (value === null || typeof value !== 'object') return false
  const node = value as Record<string, unknown>
  if ('relname' in node && node.location === location) return true
  for (const key in node) if (namesRelationAt(node[key], location)) return true
  return false
}

/** The index in `statement.text` of a position inside it; undefined when it is not inside. */
function indexOf(statement: SqlStatement, at: Position): number | undefined {
  const { text, start } = statement
  if (at.line < start.line || (at.line === start.line && at.column < start.column)) return undefined
  let index = 0
  for (let line = start.line; line < at.line; line++) {
    const newline = text.indexOf('\n', index)
    if (newline === -1) return undefined
    index = newline + 1
  }
  index += at.column - (at.line === start.line ? start.column : 1)
  return index <= text.length ? index : undefined
}

const identifierChar = /[\p{L}\p{N}_$]/u

/** The end of a possibly qualified, possibly quoted name starting at `from`. */
export function nameEnd(text: string, from: number): number {
  let i = from
  for (;;) {
    if (text[i] === '"') {
      i++
      while (i < text.length && !(text[i] === '"' && text[i + 1] !== '"')) i += text[i] === '"' ? 2 : 1
      i++
    } else {
      const begin = i
      while (i < text.length && identifierChar.test(text[i])) i++
      if (i === begin) return Math.max(i, from)
    }
    if (text[i] !== '.') return Math.min(i, text.length)
    i++
  }
}

/** The end of the clause starting at `from`, trailing blanks left out. */
export function clauseEnd(text: string, from: number): number {
  let depth = 0
  let i = from
  let end = text.length
  scan: while (i < text.length) {
    const c = text[i]
    if (c === "'" || c === '"') {
      i = text.indexOf(c, i + 1)
      // A doubled quote is an escaped one: the scan goes on from after it.
      while (i !== -1 && text[i + 1] === c) i = text.indexOf(c, i + 2)
      if (i === -1) break
      i++
    } else if (c === '$') {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i))
      if (!tag) {
        i++
        continue
      }
      const close = text.indexOf(tag[0], i + tag[0].length)
      if (close === -1) break
      i = close + tag[0].length
    } else if (c === '-' && text[i + 1] === '-') {
      const newline = text.indexOf('\n', i)
      if (newline === -1) break
      i = newline
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2)
      if (close === -1) break
      i = close + 2
    } else if (c === '(') {
      depth++
      i++
    } else if (c === ')' || c === ',') {
      if (depth === 0) {
        end = i
        break scan
      }
      if (c === ')') depth--
      i++
    } else {
      i++
    }
  }
  while (end > from && /\s/.test(text[end - 1])) end--
  return end
}
