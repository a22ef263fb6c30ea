/**
 * `${VAR}` and `${VAR:-default}` in plan strings, filled from the environment before the plan is
 * validated. Like the shell, `:-` also applies when the variable is set but empty. `$${` writes a
 * literal `${`; a `$` not followed by `{` (e.g. `$HOME` in a deploy command) is left alone, so
 * commands can still use their own shell variables.
 */
export type Env = Record<string, string | undefined>

export interface InterpolationProblem {
  /** Offset of the offending `${…}` in the input string. */
  index: number
  /** The offending text, e.g. `${DATABASE_URL}`. */
  text: string
  variable?: string
  message: string
  hint: string
}

export interface Interpolated {
  value: string
  problems: InterpolationProblem[]
  /** Variables referenced, in order of appearance. */
  variables: string[]
}

const reference = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s
const syntaxHint = 'write ${NAME} or ${NAME:-default}; write $${ for a literal ${'

export function interpolate(text: string, env: Env): Interpolated {
  const problems: InterpolationProblem[] = []
  const variables: string[] = []
  if (!text.includes('$')) return { value: text, problems, variables }
  let out = ''
  let i = 0
  while (i < text.length) {
    const dollar = text.indexOf('$', i)
    if (dollar === -1) {
      out += text.slice(i)
      break
    }
    out += text.slice(i, dollar)
    if (text.startsWith('$${', dollar)) {
      out += '${'
      i = dollar + 3
      continue
    }
    if (!text.startsWith('${', dollar)) {
      out += '$'
      i = dollar + 1
      continue
    }
    const close = text.indexOf('}', dollar + 2)
    if (close === -1) {
      const shown = text.slice(dollar, dollar + 40)
      problems.push({
        index: dollar,
        text: shown,
        message: `unclosed variable reference "${shown}"`,
        hint: syntaxHint,
      })
      out += text.slice(dollar)
      break
    }
    const whole = text.slice(dollar, close + 1)
    const inner = text.slice(dollar + 2, close)
    const match = reference.exec(inner)
    i = close + 1
    if (!match || match[2]?.includes('${')) {
      problems.push({
        index: dollar,
        text: whole,
        message: match
          ? `nested variable references are not supported: "${whole}"`
          : `"${whole}" is not a variable reference`,
        hint: syntaxHint,
      })
      out += whole
      continue
    }
    const name = match[1]
    const fallback = match[2]
    variables.push(name)
    const value = env[name]
    if (fallback !== undefined && (value === undefined || value === '')) out += fallback
    else if (value !== undefined) out += value
    else {
      problems.push({
        index: dollar,
        text: whole,
        variable: name,
        message: `environment variable ${name} is not set`,
        hint: `set it (export ${name}=…) or give a default: \${${name}:-value}`,
      })
      out += whole
    }
  }
  return { value: out, problems, variables }
}
