/**
 * The YAML side of plan loading: parse with positions, turn plan paths (`phases[4].switch`)
 * back into `line:col`, and report YAML's own errors with a hint. Imported lazily by
 * `loadPlan`, so `bluegreen --help` never loads the YAML parser.
 */
import {
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node as YamlNode,
  type Pair,
  type YAMLError,
} from 'yaml'
import type { PlanPath, RawIssue } from '../format/issues.js'

/** Deeper than any plan needs; keeps pathological input away from recursive code. */
export const maxDepth = 64
/** Aliases expanded at most this many times (guards against "billion laughs"). */
const maxAliasCount = 100

export interface ParsedYaml {
  /** The plain JS value, or undefined when the YAML itself is broken. */
  value: unknown
  issues: RawIssue[]
  locator: Locator
}

export function parseYaml(source: string): ParsedYaml {
  const lineCounter = new LineCounter()
  const doc = parseDocument(source, {
    lineCounter,
    merge: true,
    uniqueKeys: true,
    prettyErrors: false,
    // 'error' keeps errors such as MULTIPLE_DOCS but prints no process warnings ('silent' drops both).
    logLevel: 'error',
  })
  const locator = new Locator(doc, lineCounter, source)
  const problems = [...doc.errors, ...doc.warnings]
  if (problems.length > 0) {
    return { value: undefined, issues: problems.map((error) => yamlIssue(error, locator, source)), locator }
  }
  const tooDeep = locator.firstNodeDeeperThan(maxDepth)
  if (tooDeep !== undefined) {
    return { value: undefined, issues: [nestingIssue(tooDeep, locator)], locator }
  }
  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount })
  } catch (error) {
    return { value: undefined, issues: [conversionIssue(error, locator, source)], locator }
  }
  if (depthOf(value) > maxDepth) return { value: undefined, issues: [nestingIssue(0, locator)], locator }
  return { value, issues: [], locator }
}

/** What a path points at in the YAML: the value node and, for a map entry, its key node. */
interface Found {
  node: YamlNode | null
  key?: YamlNode
  /** How many leading path segments were found. */
  matched: number
}

export class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    private readonly source: string,
  ) {}

  linePos(offset: number): { line: number; col: number } {
    const clamped = Math.max(0, Math.min(offset, this.source.length))
    return this.lineCounter.linePos(clamped)
  }

  /**
   * Where an issue at `path` is reported: the key for `at: 'key'`, the deepest existing parent's
   * key for a missing entry, else the value (or its key when the value is empty).
   */
  offsetOf(path: PlanPath, at: 'key' | 'value'): number {
    const found = this.find(path)
    if (found.matched < path.length || at === 'key') {
      const anchor = found.key ?? found.node
      return anchor?.range?.[0] ?? 0
    }
    const node = found.node
    // An empty value (`key:`) has a zero-width range after the colon: point at its key instead.
    const empty = isScalar(node) && node.value === null && !node.source
    if (empty && found.key) return found.key.range?.[0] ?? 0
    return node?.range?.[0] ?? found.key?.range?.[0] ?? 0
  }

  /** The offset of `text` inside the source of the value at `path`, e.g. a `${VAR}`. */
  offsetOfText(path: PlanPath, text: string, occurrence = 0): number {
    const start = this.offsetOf(path, 'value')
    const found = this.find(path)
    const end = found.matched === path.length ? (found.node?.range?.[1] ?? start) : start
    let from = start
    for (let i = 0; i <= occurrence; i++) {
      const at = this.source.indexOf(text, from)
      if (at === -1 || at >= end) return start
      if (i === occurrence) return at
      from = at + text.length
    }
    return start
  }

  /** The scalar at `path` as written: its style and source text, for "1.10 stays 1.10". */
  scalarAt(path: PlanPath): { plain: boolean; source: string } | undefined {
    const found = this.find(path)
    if (found.matched < path.length || !isScalar(found.node)) return undefined
    const scalar = found.node
    return { plain: scalar.type === 'PLAIN', source: scalar.source ?? String(scalar.value) }
  }

  find(path: PlanPath): Found {
    let node: YamlNode | null = this.resolve(this.doc.contents)
    let key: YamlNode | undefined
    let matched = 0
    for (const segment of path) {
      if (isMap(node) && typeof segment === 'string') {
        const pair = this.pairOf(node.items, segment, 0)
        if (!pair) break
        key = isScalar(pair.key) || isCollection(pair.key) ? pair.key : undefined
        node = this.resolve(pair.value)
      } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
        node = this.resolve(node.items[segment])
        key = undefined
      } else break
      matched++
    }
    return { node, key, matched }
  }

  /** The path of the innermost node containing `offset`, for YAML's own errors. */
  pathAt(offset: number): PlanPath {
    const path: (string | number)[] = []
    let node: YamlNode | null = this.doc.contents
    for (let depth = 0; depth < maxDepth && node; depth++) {
      let next: YamlNode | null = null
      if (isMap(node)) {
        for (const pair of node.items) {
          if (!isScalar(pair.key) || typeof pair.key.value === 'symbol') continue
          const value = pair.value as YamlNode | null
          const keyRange = pair.key.range
          const valueRange = value?.range
          if (keyRange && offset >= keyRange[0] && offset <= keyRange[1]) {
            path.push(String(pair.key.value))
            return path
          }
          if (valueRange && offset >= valueRange[0] && offset < valueRange[2]) {
            path.push(String(pair.key.value))
            next = value
            break
          }
        }
      } else if (isSeq(node)) {
        const index = node.items.findIndex((item) => {
          const range = (item as YamlNode | null)?.range
          return range !== undefined && range !== null && offset >= range[0] && offset < range[2]
        })
        if (index !== -1) {
          path.push(index)
          next = node.items[index] as YamlNode | null
        }
      }
      node = next
    }
    return path
  }

  /** Offset of the first node nested deeper than `limit`, found without recursion. */
  firstNodeDeeperThan(limit: number): number | undefined {
    const stack: { node: unknown; depth: number }[] = [{ node: this.doc.contents, depth: 0 }]
    while (stack.length > 0) {
      const { node, depth } = stack.pop()!
      if (!isCollection(node)) continue
      if (depth >= limit) return node.range?.[0] ?? 0
      for (const item of node.items) {
        if (isPair(item)) {
          stack.push({ node: item.key, depth: depth + 1 }, { node: item.value, depth: depth + 1 })
        } else stack.push({ node: item, depth: depth + 1 })
      }
    }
    return undefined
  }

  private resolve(node: unknown): YamlNode | null {
    let current = node
    // An alias may point at another alias' anchor; a few hops are plenty.
    for (let hops = 0; hops < 8 && isAlias(current); hops++) current = current.resolve(this.doc)
    return isScalar(current) || isCollection(current) ? current : null
  }

  /** The pair for `key`, also looking through `<<` merge keys as YAML does. */
  private pairOf(items: Pair[], key: string, depth: number): Pair | undefined {
    const own = items.find((pair) => isScalar(pair.key) && String(pair.key.value) === key)
    if (own || depth > 4) return own
    for (const pair of items) {
      if (!isScalar(pair.key) || typeof pair.key.value !== 'symbol') continue
      const sources = isSeq(pair.value) ? pair.value.items : [pair.value]
      for (const source of sources) {
        const target = this.resolve(source)
        if (isMap(target)) {
          const merged = this.pairOf(target.items, key, depth + 1)
          if (merged) return merged
        }
      }
    }
    return undefined
  }
}

const yamlHints: Record<string, string> = {
  DUPLICATE_KEY: 'each key may appear once per map: remove or merge the repeated one',
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  MULTIPLE_DOCS: 'a plan file holds one YAML document: remove the extra "---"',
  BAD_ALIAS: 'define the anchor (&name) before the alias (*name) that uses it',
  TAG_RESOLVE_FAILED: 'remove the tag (!…): plans use plain YAML values',
  RESOURCE_EXHAUSTION: 'the plan is nested far too deeply; plans need only a few levels',
}

function yamlIssue(error: YAMLError, locator: Locator, source: string): RawIssue {
  const offset = error.pos[0]
  const firstLine = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
  const lineText = lineAt(source, offset)
  let message = firstLine
  let hint = yamlHints[error.code]
  if (error.code === 'MULTIPLE_DOCS') message = 'the file holds more than one YAML document'
  if (error.code === 'DUPLICATE_KEY') {
    const key = /^\s*(?:-\s+)?["']?([^"':]+)/.exec(source.slice(offset, offset + 120))?.[1]?.trim()
    if (key) message = `duplicate key "${key}"`
  }
  if (/Maximum call stack/i.test(firstLine)) {
    message = 'the plan is nested too deeply'
    hint = yamlHints.RESOURCE_EXHAUSTION
  }
  if (!hint) {
    hint = /[{[][^}\]]*\$\{|\{\{/.test(lineText)
      ? 'quote values that contain ${…} or {{…}} (e.g. url: "${DATABASE_URL}"): unquoted { and [ start a YAML map or list'
      : 'check the indentation and quoting on this line; quote values containing ": ", " #", {, }, [ or ]'
  }
  return { path: locator.pathAt(offset), at: { offset }, message: `invalid YAML: ${message}`, hint }
}

/** toJS fails on aliases: one used before its anchor, or so many that they look like an attack. */
function conversionIssue(error: unknown, locator: Locator, source: string): RawIssue {
  const message = error instanceof Error ? error.message : String(error)
  const unresolved = /Unresolved alias[^:]*: (\S+)/.exec(message)?.[1]
  if (unresolved) {
    const offset = Math.max(0, source.indexOf(`*${unresolved}`))
    return {
      path: locator.pathAt(offset),
      at: { offset },
      message: `invalid YAML: alias *${unresolved} has no anchor &${unresolved} before it`,
      hint: yamlHints.BAD_ALIAS,
    }
  }
  if (/alias/i.test(message)) {
    return {
      path: [],
      at: { offset: 0 },
      message: `invalid YAML: too many aliases (${message})`,
      hint: 'expand the aliases by hand: a plan needs few anchors (&name) and aliases (*name)',
    }
  }
  return { path: [], at: { offset: 0 }, message: `invalid YAML: ${message}`, hint: 'simplify the plan' }
}

function nestingIssue(offset: number, locator: Locator): RawIssue {
  return {
    path: locator.pathAt(offset),
    at: { offset },
    message: `the plan is nested more than ${maxDepth} levels deep`,
    hint: yamlHints.RESOURCE_EXHAUSTION,
  }
}

function lineAt(source: string, offset: number): string {
  const start = source.lastIndexOf('\n', offset - 1) + 1
  const end = source.indexOf('\n', offset)
  return source.slice(start, end === -1 ? undefined : end)
}

/** Nesting depth of a JS value, without recursion (aliases can make it deeper than the YAML). */
export function depthOf(value: unknown): number {
  let deepest = 0
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }]
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!
    if (current === null || typeof current !== 'object') continue
    deepest = Math.max(deepest, depth + 1)
    if (deepest > maxDepth) return deepest
    for (const child of Object.values(current)) stack.push({ value: child, depth: depth + 1 })
  }
  return deepest
}
