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

/** The value of one whole string literal ('…' with '' escapes, E'…' without escapes, $tag$…$tag$). */
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

/** `text` split at `separator` outside single quotes and dollar quotes; undefined if a quote is open. */
function splitOutside(text: string, separator: string): string[] | undefined {
  const parts: string[] = []
  let part = ''
  for (let i = 0; i < text.length;) {
    if (text[i] === "'") {
      let end = text.indexOf("'", i + 1)
      while (end !== -1 && text[end + 1] === "'") end = text.indexOf("'", end + 2)
      if (end === -1) return undefined
      part += text.slice(i, end + 1)
      i = end + 1
    } else if (text.startsWith(separator, i)) {
      parts.push(part)
      part = ''
      i += separator.length
    } else if (text[i] === '$') {
      const tag = /^\$(?:[A-Za-z_]\w*)?\$/.exec(text.slice(i, i + 64))?.[0]
      const end = tag ? text.indexOf(tag, i + tag.length) : -1
      if (tag && end === -1) return undefined
      const stop = tag ? end + tag.length : i + 1
      part += text.slice(i, stop)
      i = stop
    } else {
      part += text[i++]
    }
  }
  parts.push(part)
  return parts
}

function stringLiteral(text: string): string | undefined {
  const quoted = /^'((?:[^']|'')*)'$/s.exec(text)
  if (quoted) return quoted[1].replace(/''/g, "'")
  const dollar = /^(\$\w*\$)([\s\S]*)\1$/.exec(text)
  if (dollar) return dollar[2]
  return undefined
}

/** The body split at semicolons outside quotes, dollar quotes and comments; comments removed. */
function splitTopLevel(body: string): string[] {
  const chunks: string[] = []
  let chunk = ''
  let i = 0
  while (i < body.length) {
    const c = body[i]
    let end = i + 1
    if (c === "'" || c === '"') {
      end = body.indexOf(c, i + 1)
      while (end !== -1 && body[end + 1] === c) end = body.indexOf(c, end + 2)
      end = end === -1 ? body.length : end + 1
    } else if (c === '-' && body[i + 1] === '-') {
      const newline = body.indexOf('\n', i)
      i = newline === -1 ? body.length : newline
      continue
    } else if (c === '/' && body[i + 1] === '*') {
      const close = body.indexOf('*/', i + 2)
      i = close === -1 ? body.length : close + 2
      chunk += ' '
      continue
    } else if (c === '$') {
      const tag = /^\$(?:[A-Za-z_]\w*)?\$/.exec(body.slice(i, i + 64))
      if (tag) {
        const close = body.indexOf(tag[0], i + tag[0].length)
        end = close === -1 ? body.length : close + tag[0].length
      }
    } else if (c === ';') {
      chunks.push(chunk)
      chunk = ''
      i++
      continue
    }
    chunk += body.slice(i, end)
    i = end
  }
  chunks.push(chunk)
  return chunks
}
