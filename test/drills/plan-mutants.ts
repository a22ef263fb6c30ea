/**
 * Malformed plans for drill 4, made from valid ones by seeded mutations: wrong types, unknown
 * keys, bad durations, missing keys, bad enum values and numbers, unknown placeholders, unset
 * ${VARS}, broken YAML, random deletions and truncations. The same seed gives the same plans.
 */
import { parse, stringify } from 'yaml'

/** mulberry32: a small, fast, seedable PRNG; good enough to pick mutations. */
export function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface Mutant {
  kind: MutationKind
  /** What was changed, precisely enough to see why the plan is wrong. */
  change: string
  text: string
}

export const mutationKinds = [
  'wrong type',
  'unknown key',
  'bad duration',
  'missing key',
  'bad enum value',
  'bad number',
  'unknown placeholder',
  'unset variable',
  'broken yaml',
  'random deletion',
  'truncation',
] as const
export type MutationKind = (typeof mutationKinds)[number]

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type Path = (string | number)[]

const durationLike = /^\d+(ms|s|m|h|d)$/

/** One mutant of `source` (a valid plan's YAML text), of the given kind. */
export function mutate(source: string, kind: MutationKind, random: () => number): Mutant {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]
  const value = parse(source) as Json
  const nodes = walk(value, [])
  const show = (path: Path) =>
    path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('') || '(root)'
  const structural = (change: string, mutated: Json): Mutant => ({ kind, change, text: stringify(mutated) })

  switch (kind) {
    case 'wrong type': {
      const [path, old] = pick(nodes.filter(([path]) => path.length > 0))
      const replacements: Json[] = [42, -1, 3.5, true, null, 'text', [], [1, 2], {}, { nested: 1 }]
      const replacement = pick(replacements.filter((r) => typeOf(r) !== typeOf(old)))
      return structural(`${show(path)} := ${JSON.stringify(replacement)}`, setAt(value, path, replacement))
    }
    case 'unknown key': {
      const objects = nodes.filter(([, node]) => typeOf(node) === 'object')
      const [path] = pick(objects)
      const key = pick([
        'timeOut',
        'retries_',
        'dirs',
        'urls',
        'lockTimout',
        'provder',
        'step',
        'weight',
        'extra',
      ])
      return structural(`${show([...path, key])} added`, setAt(value, [...path, key], pick(['1', 1, true])))
    }
    case 'bad duration': {
      const durations = nodes.filter(([, node]) => typeof node === 'string' && durationLike.test(node))
      const bad = pick(['5 minutes', '-1s', '10', '1y', '', '5mm', '1.5.3s', 's', 'soon', '1h30'])
      const [path] = durations.length > 0 ? pick(durations) : [['phases', 0, 'deploy', 'timeout']]
      return structural(`${show(path)} := ${JSON.stringify(bad)}`, setAt(value, path, bad))
    }
    case 'missing key': {
      const keys = nodes.filter(([path]) => typeof path.at(-1) === 'string')
      const [path] = pick(keys)
      return structural(`${show(path)} deleted`, deleteAt(value, path))
    }
    case 'bad enum value': {
      const targets: [Path, Json][] = [
        [['loadBalancer', 'provider'], pick(['aws-elb', 'HAProxy', 'f5', ''])],
        [['pools', pick(['red', 'Blue', 'purple'])], { servers: ['x1'] }],
        [['phases', 0], { [pick(['deploy2', 'migrate', 'Deploy', 'rollback'])]: {} }],
        [['phases', 0], pick(['deploy', 42, null])],
        [['app'], pick(['Shop', 'my shop', '-shop', ''])],
      ]
      const [path, replacement] = pick(targets)
      return structural(`${show(path)} := ${JSON.stringify(replacement)}`, setAt(value, path, replacement))
    }
    case 'bad number': {
      const numbers = nodes.filter(([, node]) => typeof node === 'number')
      const replacement = pick([-1, 0, 1.5, 1e9, 101, 70000])
      if (numbers.length > 0 && random() < 0.5) {
        const [path] = pick(numbers)
        return structural(`${show(path)} := ${replacement}`, setAt(value, path, replacement))
      }
      // The switch steps must rise to exactly 100.
      const steps = pick([[100, 50], [50], [0, 100], [50, 50, 100], [10, 200]])
      const phases = Array.isArray(asObject(value).phases) ? (asObject(value).phases as Json[]) : []
      const at = Math.max(
        0,
        phases.findIndex((p) => typeOf(p) === 'object' && 'switch' in asObject(p)),
      )
      const path: Path = ['phases', at, 'switch']
      return structural(`${show(path)} := ${JSON.stringify({ steps })}`, setAt(value, path, { steps }))
    }
    case 'unknown placeholder': {
      const strings = nodes.filter(([path, node]) => typeof node === 'string' && path[0] === 'phases')
      const name = pick(['pool_name', 'build', 'release', 'env', 'Version', 'commit'])
      const [path, old] = strings.length > 0 ? pick(strings) : [['app'] as Path, 'shop']
      const replacement = `${typeof old === 'string' ? old : ''}-{{${name}}}`
      return structural(`${show(path)} := ${JSON.stringify(replacement)}`, setAt(value, path, replacement))
    }
    case 'unset variable': {
      const strings = nodes.filter(([, node]) => typeof node === 'string')
      const [path, old] = pick(strings)
      const variable = `DRILL_UNSET_${Math.floor(random() * 1e9)}`
      const replacement = `${typeof old === 'string' ? old : ''}\${${variable}}`
      return structural(`${show(path)} := ${JSON.stringify(replacement)}`, setAt(value, path, replacement))
    }
    case 'broken yaml': {
      const lines = source.split('\n')
      const at = Math.floor(random() * (lines.length + 1))
      const injection = pick([
        '\tapp: shop',
        'phases: [',
        '"unterminated: string',
        'app: shop: again',
        '- a list item\nkey: value',
        'alias: *undefined_alias',
        'map: { a: 1',
        'app: shop\napp: again',
        '%YAML 9.9\n---',
        '---\nsecond: document',
        '  - : :',
        "quoted: 'it''s",
        'key: @reserved',
      ])
      lines.splice(at, 0, injection)
      return { kind, change: `line ${at + 1}: inserted ${JSON.stringify(injection)}`, text: lines.join('\n') }
    }
    case 'random deletion': {
      if (random() < 0.5) {
        const lines = source.split('\n')
        const meaningful = lines
          .map((line, i) => [line, i] as const)
          .filter(([line]) => /^\s*[^#\s]/.test(line))
        const [line, at] = pick(meaningful)
        lines.splice(at, 1)
        return { kind, change: `line ${at + 1} deleted: ${JSON.stringify(line)}`, text: lines.join('\n') }
      }
      const start = Math.floor(random() * source.length)
      const length = 1 + Math.floor(random() * 30)
      return {
        kind,
        change: `characters ${start}..${start + length} deleted: ${JSON.stringify(source.slice(start, start + length))}`,
        text: source.slice(0, start) + source.slice(start + length),
      }
    }
    case 'truncation': {
      const at = Math.floor(random() * source.length)
      return { kind, change: `cut after character ${at}`, text: source.slice(0, at) }
    }
  }
}

function typeOf(value: Json): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

function asObject(value: Json): Record<string, Json> {
  return typeOf(value) === 'object' ? (value as Record<string, Json>) : {}
}

/** Every node with its path, the root first. */
function walk(value: Json, path: Path): [Path, Json][] {
  const here: [Path, Json] = [path, value]
  if (Array.isArray(value)) return [here, ...value.flatMap((item, i) => walk(item, [...path, i]))]
  if (value !== null && typeof value === 'object')
    return [here, ...Object.entries(value).flatMap(([key, item]) => walk(item, [...path, key]))]
  return [here]
}

/** A copy of `value` with the node at `path` replaced (created when missing). */
function setAt(value: Json, path: Path, replacement: Json): Json {
  if (path.length === 0) return replacement
  const [head, ...rest] = path
  if (Array.isArray(value)) {
    const copy = [...value]
    copy[Number(head)] = setAt(copy[Number(head)] ?? null, rest, replacement)
    return copy
  }
  const object = asObject(value)
  return { ...object, [head]: setAt(object[head] ?? {}, rest, replacement) }
}

/** A copy of `value` without the node at `path`. */
function deleteAt(value: Json, path: Path): Json {
  const [head, ...rest] = path
  if (rest.length > 0) {
    if (Array.isArray(value)) return value.map((item, i) => (i === head ? deleteAt(item, rest) : item))
    const object = asObject(value)
    return { ...object, [head]: deleteAt(object[head], rest) }
  }
  if (Array.isArray(value)) return value.filter((_, i) => i !== head)
  const { [head]: _removed, ...others } = asObject(value)
  return others
}
