/**
 * Placeholders in a `shell: true` command are filled with each value quoted for the place it
 * stands in the script, so that a value is one literal word and never code:
 *   echo {{version}}      → echo 'va lue'          (unquoted: single-quoted when it must be)
 *   echo '{{version}}'    → echo 'it'\''s'         (inside '…': a quote closes, escapes, reopens)
 *   echo "v={{version}}"  → echo "v=\$(id)"        (inside "…": $ ` " \ escaped)
 * Inside `$(…)` quoting starts afresh, as in the shell. Versions are checked names anyway
 * (schema.ts); this holds for whatever value a placeholder gets. It does not follow here-docs.
 */
import { fillPlaceholders, isPlaceholderName, type PlaceholderVars } from '../format/placeholders.js'

type Quoting = 'none' | 'single' | 'double'
interface Context {
  quoting: Quoting
  /** Open `(` inside a `$(…)`, so that its own `)` is told from the one that closes it. */
  parens: number
}

const placeholder = /\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/y

export function fillShellScript(script: string, vars: PlaceholderVars): string {
  const stack: Context[] = [{ quoting: 'none', parens: 0 }]
  let out = ''
  let i = 0
  while (i < script.length) {
    const context = stack[stack.length - 1]
    placeholder.lastIndex = i
    const use = placeholder.exec(script)
    if (use) {
      const value = isPlaceholderName(use[1]) ? vars[use[1]] : undefined
      out += value === undefined ? fillPlaceholders(use[0], vars) : quoteFor(context.quoting, value)
      i += use[0].length
      continue
    }
    const c = script[i]
    let take = 1
    if (context.quoting === 'single') {
      if (c === "'") stack.pop()
    } else if (c === '\\') {
      take = 2
    } else if (script.startsWith('$(', i)) {
      stack.push({ quoting: 'none', parens: 0 })
      take = 2
    } else if (context.quoting === 'double') {
      if (c === '"') stack.pop()
    } else if (c === "'") {
      stack.push({ quoting: 'single', parens: 0 })
    } else if (c === '"') {
      stack.push({ quoting: 'double', parens: 0 })
    } else if (c === '#' && (i === 0 || /[\s;&|()]/.test(script[i - 1]))) {
      // A comment: its quotes are not quotes.
      const end = script.indexOf('\n', i)
      take = (end === -1 ? script.length : end) - i
    } else if (c === '(') {
      context.parens++
    } else if (c === ')' && stack.length > 1) {
      if (context.parens > 0) context.parens--
      else stack.pop()
    }
    out += script.slice(i, i + take)
    i += take
  }
  return out
}

/** `value` as one literal word where the quoting is `quoting`. */
export function quoteFor(quoting: Quoting, value: string): string {
  switch (quoting) {
    case 'single':
      return value.replace(/'/g, `'\\''`)
    case 'double':
      return value.replace(/[\\"$`]/g, '\\$&')
    case 'none':
      return shellQuote(value)
  }
}

/** A word for /bin/sh: as it is when it holds nothing special (as Python's shlex.quote). */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value
  return `'${value.replace(/'/g, `'\\''`)}'`
}
