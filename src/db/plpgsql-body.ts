/**
 * The SQL statements inside a DO block's PL/pgSQL body, so the linter can check them like any
 * other statement. ORMs and hand-written migrations use DO blocks mostly as "create it unless it
 * exists" wrappers (IF NOT EXISTS … THEN CREATE TYPE …; EXCEPTION WHEN duplicate_object THEN
 * null), whose statements are plain SQL between PL/pgSQL's control words.
 *
 * This is not a PL/pgSQL parser: it splits the body at top-level semicolons, strips the control
 * words (DECLARE, BEGIN, IF … THEN, ELSE, LOOP, EXCEPTION WHEN … THEN, END …), skips what cannot
 * change the schema (RAISE, RETURN, assignments, SELECT … INTO, NULL), turns PERFORM into SELECT,
 * and reads EXECUTE of a constant string (a literal, literals joined with ||, format() of literals) as
 * its SQL. Anything else it cannot follow, above all an
 * EXECUTE of a computed string, makes the body unreadable, and the linter says so.
 */

export type DoBody = { statements: string[] } | { unreadable: string }

export function statementsOfDoBody(body: string): DoBody {
  const statements: string[] = []
  let declaring = false
  for (let chunk of splitTopLevel(body)) {
    for (let before = ''; before !== chunk;) {
      before = chunk
      chunk = chunk.trim()
      if (declaring) {
        const begin = /\bBEGIN\b/i.exec(chunk)
        if (!begin) {
          chunk = ''
          break
        }
        chunk = chunk.slice(begin.index + begin[0].length)
        declaring = false
        continue
      }
      const control = controlPrefix.exec(chunk)
      if (control) {
        if (/^DECLARE/i.test(control[0])) declaring = true
        chunk = chunk.slice(control[0].length)
      }
    }
    chunk = chunk.trim()
    if (chunk === '' || skipped.test(chunk)) continue
    const perform = /^PERFORM\b/i.exec(chunk)
    if (perform) {
      statements.push(`SELECT${chunk.slice(perform[0].length)}`)
      continue
    }
    const execute = /^EXECUTE\b\s*/i.exec(chunk)
    if (execute) {
      const literal = constantString(chunk.slice(execute[0].length).trim())
      if (literal === undefined) return { unreadable: 'EXECUTE of a computed string' }
      statements.push(literal)
      continue
    }
    statements.push(chunk)
  }
  return { statements }
}

/** Control words that open or close a block, with the conditions they carry. */
const controlPrefix = new RegExp(
  [
    '^<<\\s*\\w+\\s*>>',
    '^DECLARE\\b',
    '^BEGIN\\b',
    '^END\\s+(?:IF|LOOP|CASE)\\b(?:\\s+\\w+)?',
    '^END\\b(?:\\s+\\w+)?\\s*$',
    '^EXCEPTION\\s+WHEN\\b[\\s\\S]*?\\bTHEN\\b',
    '^WHEN\\b[\\s\\S]*?\\bTHEN\\b',
    '^(?:IF|ELSIF|ELSEIF)\\b[\\s\\S]*?\\bTHEN\\b',
    '^ELSE\\b',
    '^(?:FOR|FOREACH|WHILE)\\b[\\s\\S]*?\\bLOOP\\b',
    '^LOOP\\b',
    '^CASE\\b(?:\\s+[\\w.]+)?(?=\\s+WHEN\\b)',
  ].join('|'),
  'i',
)

/** Statements that cannot change the schema or data. */
const skipped =
  /^(?:NULL|RETURN\b|RAISE\b|EXIT\b|CONTINUE\b|GET\s+(?:STACKED\s+)?DIAGNOSTICS\b|ASSERT\b|SELECT\b[\s\S]*\bINTO\b|[\w."]+(?:\[[^\]]*\])?\s*:?=)/i

/**
 * The SQL of an EXECUTE whose string is a constant: a literal, literals joined with ||, or
 * format() of a literal with literal arguments (%s, %I and %L, as PostgreSQL fills them).
 */
function constantString(text: string): string | undefined {
  const literal = stringLiteral(text)
  if (literal !== undefined) return literal
  const format = /^format\s*\(([\s\S]*)\)$/i.exec(text)
  const parts = splitOutside(format ? format[1] : text, format ? ',' : '||')
  if (parts === undefined || parts.length < 2) return undefined
  const values = parts.map(
    (part) => stringLiteral(part.trim()) ?? (/^-?\d+$/.test(part.trim()) ? part.trim() : undefined),
  )
  if (values.some((v) => v === undefined)) return undefined
  if (!format) return values.join('')
  const [template, ...args] = values as string[]
  let next = 0
  let complete = true
  const filled = template.replace(/%([%sIL]|.)/g, (_, spec: string) => {
    if (spec === '%') return '%'
    const arg = args[next++]
    if (arg === undefined || !'sIL'.includes(spec)) complete = false
    if (spec === 'I')
      return /^[a-z_][a-z0-9_$]*$/.test(arg ?? '') ? arg : `"${(arg ?? '').replace(/"/g, '""')}"`
    if (spec === 'L') return `'${(arg ?? '').replace(/'/g, "''")}'`
    return arg ?? ''
  })
  return complete ? filled : undefined
}

/** The value of one whole string literal ('…' with '' escapes, E'…' without escapes, $tag$…$tag$). */
function stringLiteral(text: string): string | undefined {
  const quoted = /^'((?:[^']|'')*)'$/s.exec(text)
  if (quoted) return quoted[1].replace(/''/g, "'")
  const dollar = /^(\$\w*\$)([\s\S]*)\1$/.exec(text)
  if (dollar) return dollar[2]
  return undefined
}

/** The body split at semicolons outside quotes, dollar quotes and comments; comments removed. */
function splitTopLevel(body: string): string[] {
  return splitOutside(body, ';', { strict: false })
}

/**
 * `text` split at `separator` outside quotes ('…', "…", $tag$…$tag$) and comments, the comments
 * removed (a block comment leaves a space). A quote or comment left open runs to the end of the
 * text; `strict`, it makes the result undefined instead.
 */
function splitOutside(text: string, separator: string, options: { strict: false }): string[]
function splitOutside(text: string, separator: string, options?: { strict: boolean }): string[] | undefined
function splitOutside(text: string, separator: string, { strict = true } = {}): string[] | undefined {
  const parts: string[] = []
  let part = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]
    let end = i + 1
    if (text.startsWith(separator, i)) {
      parts.push(part)
      part = ''
      i += separator.length
      continue
    }
    if (c === "'" || c === '"') {
      end = text.indexOf(c, i + 1)
      while (end !== -1 && text[end + 1] === c) end = text.indexOf(c, end + 2)
      if (end === -1 && strict) return undefined
      end = end === -1 ? text.length : end + 1
    } else if (c === '-' && text[i + 1] === '-') {
      const newline = text.indexOf('\n', i)
      i = newline === -1 ? text.length : newline
      continue
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2)
      if (close === -1 && strict) return undefined
      i = close === -1 ? text.length : close + 2
      part += ' '
      continue
    } else if (c === '$') {
      const tag = /^\$(?:[A-Za-z_]\w*)?\$/.exec(text.slice(i, i + 64))
      if (tag) {
        const close = text.indexOf(tag[0], i + tag[0].length)
        if (close === -1 && strict) return undefined
        end = close === -1 ? text.length : close + tag[0].length
      }
    }
    part += text.slice(i, end)
    i = end
  }
  parts.push(part)
  return parts
}
