/**
 * Secrets never reach any output, the journal, the spool or the state file. There is one
 * redaction, used at every exit: `redact` for text, `redactDeep` for values (events, JSON
 * results, journal records).
 *
 * It works in two ways, because neither is enough alone:
 * - by shape: the password of a URL (`user:***@`), `name=value` pairs and `--flag value`
 *   arguments whose name means a secret (`?token=`, `password=` in a libpq keyword string,
 *   `--api-key=`), `Authorization:`/`Cookie:` headers, bearer tokens, private keys, and a few
 *   token formats that announce themselves (AKIA…, ghp_…, xoxb-…, JWTs);
 * - by value: every value found by shape in the plan or the environment, and the value of every
 *   environment variable named like a secret (`*_TOKEN`, `*_PASSWORD`, AWS_SECRET_ACCESS_KEY …),
 *   is remembered and masked wherever it appears later, say in a deploy script's output.
 */
const mask = '***'
const secrets = new Set<string>()
let ordered: string[] | undefined
let envScanned = false

/** Names of things that hold secrets, as they are written in URLs, flags, env vars and headers. */
const secretWords = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'accesskey',
  'privatekey',
  'signingkey',
  'signature',
  'credential',
  'authorization',
  'cookie',
  'sessionid',
  'sessid',
]
const secretNames = new Set(['key', 'sig', 'pass', 'pwd', 'auth', 'pw', 'sas'])

/**
 * Whether a name (query parameter, keyword, flag, header, environment variable, JSON key)
 * means that its value is a secret: `token`, `X-Amz-Signature`, `DB_PASSWORD`, `--api-key`.
 */
export function isSecretName(name: string): boolean {
  const word = name.toLowerCase().replace(/[^a-z0-9]/g, '')
  if (word === '') return false
  if (secretNames.has(word)) return true
  return secretWords.some((w) => word.includes(w)) || (word.endsWith('key') && word.length > 3)
}

/** Environment variables with secret-sounding names that hold no secret. */
const notSecretEnv = new Set(['PWD', 'OLDPWD', 'XAUTHORITY', 'SSH_AUTH_SOCK', 'GPG_AGENT_INFO'])

/**
 * Shorter values are masked only where their shape shows them (`password=pw`): masked as
 * literals, a short value would hide ordinary words everywhere (the demo's AWS key is `demo`).
 */
const minSecretLength = 6

/** Registers a literal value (a password, a token) that must never be shown. */
export function registerSecret(value: string | undefined): void {
  if (
    !value ||
    value.length < minSecretLength ||
    /^\**$/.test(value) ||
    commonValues.has(value.toLowerCase())
  )
    return
  const before = secrets.size
  secrets.add(value)
  for (const variant of [safeDecode(value), encodeURIComponent(value)]) {
    if (variant && variant.length >= minSecretLength) secrets.add(variant)
  }
  if (secrets.size !== before) ordered = undefined
}

/** Values too common to mask everywhere (a flag set to `true` in a variable named *_TOKEN). */
const commonValues = new Set(['true', 'false', 'null', 'none', 'undefined', 'blue', 'green'])

/** Registers every secret found by shape in `text` (a URL's password, `token=…`, …). */
export function registerUrlSecrets(text: string | undefined): void {
  if (text) for (const secret of findSecrets(text)) registerSecret(secret)
}

/**
 * Registers the secrets of an environment: values of variables named like secrets, and
 * whatever looks like a secret inside the others (DATABASE_URL's password).
 */
export function registerEnvSecrets(env: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue
    if (isSecretName(name) && !notSecretEnv.has(name)) registerSecret(value)
    else registerUrlSecrets(value)
  }
}

/**
 * Registers the secrets in a value such as a plan: strings by shape, strings under keys named
 * like secrets (`env: { API_TOKEN: … }`, `headers: { Authorization: … }`), and the argument
 * after a secret flag in an argv array (`[deploy, --token, VALUE]`).
 */
export function registerSecretsIn(value: unknown): void {
  walk(value, (text, key, previous) => {
    if ((key !== undefined && isSecretName(key)) || (previous !== undefined && isSecretFlag(previous))) {
      registerSecret(text)
      registerSecret(headerCredential(text))
    }
    registerUrlSecrets(text)
  })
}

/** The credential of an Authorization value (`Bearer abc` → `abc`). */
function headerCredential(value: string): string | undefined {
  return /^(?:bearer|basic|token|digest|negotiate)\s+(\S+)/i.exec(value)?.[1]
}

function walk(
  value: unknown,
  visit: (text: string, key: string | undefined, previous: string | undefined) => void,
  key?: string,
  previous?: string,
  depth = 0,
): void {
  if (depth > 64) return
  if (typeof value === 'string') return visit(value, key, previous)
  if (Array.isArray(value)) {
    value.forEach((item: unknown, index) => {
      const before: unknown = index > 0 ? value[index - 1] : undefined
      walk(item, visit, undefined, typeof before === 'string' ? before : undefined, depth + 1)
    })
    return
  }
  if (isPlainObject(value)) {
    for (const [k, item] of Object.entries(value)) walk(item, visit, k, undefined, depth + 1)
  }
}

/**
 * A rule finds a secret by its shape. `value` is the group holding the secret; the others are
 * kept, so the text still says what was there (`postgres://app:***@db`, `token=***`).
 */
interface ShapeRule {
  pattern: RegExp
  /** Index of the capture group holding the secret. */
  value: number
  /** Whether a match is a secret (e.g. the name before `=` means one). */
  accept?: (groups: string[]) => boolean
}

const name = String.raw`[A-Za-z_][A-Za-z0-9_.\-]*`
const quotedOrBare = (stop: string) => String.raw`'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s${stop}]+`

const rules: ShapeRule[] = [
  // PEM private keys, whole.
  {
    pattern: /(-----BEGIN [A-Z ]*PRIVATE KEY-----)([\s\S]*?)(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
    value: 2,
  },
  // user:password@ in any URL (up to the last @ of the authority: passwords may hold a raw @).
  { pattern: /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/?#@"'<>]*:)([^\s/?#"'<>]*)(@)/gi, value: 2 },
  // A token as the user of a URL, without a password: https://ghp_…@github.com.
  {
    pattern: /(\b[a-z][a-z0-9+.-]*:\/\/)([^\s:/?#@"'<>]+)(@)/gi,
    value: 2,
    accept: (g) => g[2].length >= 16 || /^[a-z]+_/i.test(g[2]),
  },
  // Authorization, Cookie and secret-named headers: the whole value, to the end of the line.
  {
    pattern: new RegExp(
      String.raw`(^|[\s"'{,;(\[])((?:proxy-)?authorization|(?:set-)?cookie|x-[A-Za-z0-9-]+)(\s*:\s*)([^\r\n"']+)`,
      'gi',
    ),
    value: 4,
    accept: (g) => isSecretName(g[2]),
  },
  // Bearer and basic credentials wherever they appear.
  { pattern: /(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{8,})/gi, value: 2 },
  // name=value: query parameters, libpq keyword strings, env dumps, --flag=value.
  {
    pattern: new RegExp(
      String.raw`(^|[\s?&;#,("'{\[]|--?)(${name})(\s*=\s*)(${quotedOrBare('&;#"\',)\\]}')})`,
      'g',
    ),
    value: 4,
    accept: (g) => isSecretName(g[2]),
  },
  // "name": "value" and name: value (JSON and YAML in a deploy's output); not a nested object.
  {
    pattern: new RegExp(
      String.raw`(^|[\s{,\[])(["']?)(${name})(\2)(\s*:\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,{}[\]"'][^\s,}\]"']*)`,
      'g',
    ),
    value: 6,
    accept: (g) => isSecretName(g[3]),
  },
  // --password VALUE, --token "VALUE": the argument after a secret flag.
  {
    pattern: /(^|\s)(--?[A-Za-z][\w-]*)(\s+)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"-][^\s'"]*)/g,
    value: 4,
    accept: (g) => isSecretFlag(g[2]),
  },
  // -pSECRET (mysql and friends: the password attached to -p).
  { pattern: /(^|\s)(-p)([^\s-][^\s]*)/g, value: 3, accept: (g) => !/^\d+$/.test(g[3]) },
  // Tokens whose format says what they are.
  {
    pattern:
      /()(\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})/g,
    value: 2,
  },
]

/** A flag whose argument is a secret: `--token`, `--db-password`, `--api-key` (not `--password-stdin`). */
export function isSecretFlag(flag: string): boolean {
  if (!/^--?[A-Za-z][\w-]*$/.test(flag) || /(stdin|file|prompt|env)$/i.test(flag)) return false
  const bare = flag.replace(/^--?/, '')
  return flag.startsWith('--') ? isSecretName(bare) : false
}

function applyRule(text: string, rule: ShapeRule, found?: string[]): string {
  return text.replace(rule.pattern, (...args: unknown[]) => {
    // (match, ...groups, offset, text): every rule's groups, joined, are the whole match.
    const g = (args.slice(0, -2) as (string | undefined)[]).map((x) => x ?? '')
    const value = g[rule.value]
    if (value === '' || value === mask || (rule.accept && !rule.accept(g))) return g[0]
    found?.push(unquote(value))
    return g
      .slice(1)
      .map((part, i) => (i + 1 === rule.value ? maskOf(value) : part))
      .join('')
  })
}

/** A quoted value stays quoted, so a masked JSON or libpq string still parses. */
function maskOf(value: string): string {
  const quote = value[0]
  return (quote === '"' || quote === "'") && value.endsWith(quote) && value.length > 1
    ? `${quote}${mask}${quote}`
    : mask
}

function unquote(value: string): string {
  const quote = value[0]
  return (quote === '"' || quote === "'") && value.endsWith(quote) && value.length > 1
    ? value.slice(1, -1)
    : value
}

/** The secrets in `text`, found by shape. */
export function findSecrets(text: string): string[] {
  const found: string[] = []
  for (const rule of rules) applyRule(text, rule, found)
  return found
}

/** `text` with every secret masked as `***`. */
export function redact(text: string): string {
  if (!envScanned) {
    envScanned = true
    registerEnvSecrets(process.env)
  }
  let out = text
  for (const rule of rules) out = applyRule(out, rule)
  ordered ??= [...secrets].sort((a, b) => b.length - a.length)
  for (const secret of ordered) if (out.includes(secret)) out = out.split(secret).join(mask)
  return out
}

/**
 * A copy of `value` with every string redacted, every string under a key named like a secret
 * masked, and every argument after a secret flag in an array masked. Functions and class
 * instances (a Date, a client) pass through as they are.
 */
export function redactDeep<T>(value: T): T {
  return deep(value, undefined, undefined, 0) as T
}

/**
 * A value as redacted JSON text. Through JSON first, so that what `toJSON` returns (a Date, an
 * error's fields) is redacted too.
 */
export function redactJson(value: unknown): string {
  const json = JSON.stringify(value)
  return json === undefined ? 'null' : JSON.stringify(redactDeep(JSON.parse(json) as unknown))
}

function deep(value: unknown, key: string | undefined, previous: string | undefined, depth: number): unknown {
  if (typeof value === 'string') {
    if ((key !== undefined && isSecretName(key)) || (previous !== undefined && isSecretFlag(previous)))
      return value === '' ? value : mask
    return redact(value)
  }
  if (depth > 64) return value
  if (Array.isArray(value)) {
    return value.map((item: unknown, index) => {
      const before: unknown = index > 0 ? value[index - 1] : undefined
      return deep(item, undefined, typeof before === 'string' ? before : undefined, depth + 1)
    })
  }
  if (value instanceof Error) {
    const copy = new Error(redact(value.message))
    copy.stack = value.stack === undefined ? undefined : redact(value.stack)
    return copy
  }
  if (!isPlainObject(value)) return value
  return Object.fromEntries(
    Object.entries(value).map(([k, item]) => [redact(k), deep(item, k, undefined, depth + 1)]),
  )
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value)
  } catch {
    return undefined
  }
}
