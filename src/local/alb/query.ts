/**
 * The AWS Query protocol, both directions, for the ELBv2 emulator.
 *
 * Requests are form-encoded key/value pairs whose keys are paths: lists are `Name.member.N`
 * (1-based), maps are `Name.entry.N.key` / `Name.entry.N.value`, and an empty list is sent as a
 * bare `Name=`. `parseQuery` turns them into a tree of strings, arrays, Maps and records.
 * Responses are XML in which a list is `<Name><member>…</member></Name>` and a map is
 * `<Name><entry><key>…</key><value>…</value></entry></Name>`; `toXml` writes such a tree back.
 */

export type QueryNode = string | QueryNode[] | Map<string, string> | QueryStruct
export interface QueryStruct {
  [key: string]: QueryNode
}

type Building =
  | { kind: 'scalar'; value: string }
  | { kind: 'struct'; fields: Map<string, Building> }
  | { kind: 'list'; items: Map<number, Building> }
  | { kind: 'map'; entries: Map<number, { key?: string; value?: string }> }

export class QueryParseError extends Error {}

/**
 * Bounds that keep parsing linear and small whatever a client sends. The deepest parameter the
 * ELBv2 API has is 7 segments (Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight).
 */
export const queryLimits = { maxParams: 1000, maxKeyLength: 256, maxDepth: 12, maxListIndex: 1000 }

/** Parses form-encoded Query parameters (already split by URLSearchParams) into a tree. */
export function parseQuery(params: URLSearchParams): QueryStruct {
  const root: Building = { kind: 'struct', fields: new Map() }
  let count = 0
  for (const [key, value] of params) {
    if (++count > queryLimits.maxParams)
      throw new QueryParseError(`more than ${queryLimits.maxParams} parameters`)
    if (key.length > queryLimits.maxKeyLength)
      throw new QueryParseError(`a parameter name is longer than ${queryLimits.maxKeyLength} characters`)
    const path = key.split('.')
    if (path.length > queryLimits.maxDepth)
      throw new QueryParseError(`a parameter name has more than ${queryLimits.maxDepth} parts`)
    insert(root, path, 0, value, key)
  }
  return finish(root, '') as QueryStruct
}

/** Walks `path` from `at` by index (no copies), so a key costs time linear in its length. */
function insert(node: Building, path: string[], at: number, value: string, key: string): void {
  if (node.kind !== 'struct') throw new QueryParseError(`parameter ${key} does not fit the others`)
  const name = path[at]
  if (!name) throw new QueryParseError(`empty parameter name in ${key}`)
  if (at === path.length - 1) {
    // `Name=` with nothing under it: a scalar, or an empty list; readers decide which.
    const existing = node.fields.get(name)
    if (existing && existing.kind !== 'scalar') {
      if (value === '') return
      throw new QueryParseError(`parameter ${key} conflicts with ${name}`)
    }
    if (existing) throw new QueryParseError(`parameter ${key} is given more than once`)
    node.fields.set(name, { kind: 'scalar', value })
    return
  }
  const marker = path[at + 1]
  const index = path[at + 2]
  const rest = path.length - (at + 3)
  if (marker === 'member' && index !== undefined) {
    const position = listIndex(index, key)
    const list = child(node, name, () => ({ kind: 'list', items: new Map() }), key)
    if (list.kind !== 'list') throw new QueryParseError(`parameter ${key} mixes a list with other values`)
    if (rest === 0) {
      if (list.items.has(position)) throw new QueryParseError(`parameter ${key} is given more than once`)
      list.items.set(position, { kind: 'scalar', value })
      return
    }
    let item = list.items.get(position)
    if (!item) list.items.set(position, (item = { kind: 'struct', fields: new Map() }))
    insert(item, path, at + 3, value, key)
    return
  }
  if (marker === 'entry' && index !== undefined && rest === 1) {
    const position = listIndex(index, key)
    const map = child(node, name, () => ({ kind: 'map', entries: new Map() }), key)
    if (map.kind !== 'map') throw new QueryParseError(`parameter ${key} mixes a map with other values`)
    const entry = map.entries.get(position) ?? {}
    const part = path[at + 3]
    if (part === 'key') entry.key = value
    else if (part === 'value') entry.value = value
    else throw new QueryParseError(`map parameter ${key} must end in .key or .value`)
    map.entries.set(position, entry)
    return
  }
  const struct = child(node, name, () => ({ kind: 'struct', fields: new Map() }), key)
  insert(struct, path, at + 1, value, key)
}

function listIndex(index: string, key: string): number {
  if (!/^[1-9]\d{0,3}$/.test(index) || Number(index) > queryLimits.maxListIndex)
    throw new QueryParseError(`parameter ${key}: list positions count from 1 to ${queryLimits.maxListIndex}`)
  return Number(index)
}

function child(
  node: Building & { kind: 'struct' },
  name: string,
  make: () => Building,
  key: string,
): Building {
  const existing = node.fields.get(name)
  if (existing && !(existing.kind === 'scalar' && existing.value === '')) {
    if (existing.kind === 'scalar') throw new QueryParseError(`parameter ${key} conflicts with ${name}`)
    return existing
  }
  const created = make()
  node.fields.set(name, created)
  return created
}

function finish(node: Building, path: string): QueryNode {
  switch (node.kind) {
    case 'scalar':
      return node.value
    case 'list': {
      // Positions must run 1..N, as the SDKs and the AWS CLI send them.
      const items: QueryNode[] = []
      for (let i = 1; i <= node.items.size; i++) {
        const item = node.items.get(i)
        if (!item) throw new QueryParseError(`list ${path} has no member ${i}`)
        items.push(finish(item, `${path}.member.${i}`))
      }
      return items
    }
    case 'map': {
      const map = new Map<string, string>()
      for (let i = 1; i <= node.entries.size; i++) {
        const entry = node.entries.get(i)
        if (entry?.key === undefined) throw new QueryParseError(`map ${path} has no key for entry ${i}`)
        map.set(entry.key, entry.value ?? '')
      }
      return map
    }
    case 'struct': {
      // A null prototype: a parameter named __proto__ or constructor is data, never a lookup.
      const struct = Object.create(null) as QueryStruct
      for (const [name, field] of node.fields) struct[name] = finish(field, path ? `${path}.${name}` : name)
      return struct
    }
  }
}

/** A value in a response tree: like QueryNode, plus numbers, booleans and absent fields. */
export type XmlNode = string | number | boolean | undefined | XmlNode[] | Map<string, string> | XmlStruct
export interface XmlStruct {
  [key: string]: XmlNode
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Writes `<name>…</name>` for a response tree; absent fields are left out. */
export function toXml(name: string, node: XmlNode): string {
  if (node === undefined) return ''
  if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') {
    return `<${name}>${escapeXml(String(node))}</${name}>`
  }
  if (Array.isArray(node)) return `<${name}>${node.map((item) => toXml('member', item)).join('')}</${name}>`
  if (node instanceof Map) {
    const entries = [...node].map(([k, v]) => `<entry>${toXml('key', k)}${toXml('value', v)}</entry>`)
    return `<${name}>${entries.join('')}</${name}>`
  }
  return `<${name}>${Object.entries(node)
    .map(([key, value]) => toXml(key, value))
    .join('')}</${name}>`
}

/** Readers for request trees: they name the parameter in the error, like AWS's ValidationError. */
export const read = {
  string(node: QueryNode | undefined): string | undefined {
    return typeof node === 'string' && node !== '' ? node : undefined
  },
  strings(node: QueryNode | undefined): string[] {
    if (node === undefined || node === '') return []
    if (!Array.isArray(node)) return []
    return node.filter((item): item is string => typeof item === 'string')
  },
  structs(node: QueryNode | undefined): QueryStruct[] {
    if (!Array.isArray(node)) return []
    return node.filter((item): item is QueryStruct => isStruct(item))
  },
  struct(node: QueryNode | undefined): QueryStruct | undefined {
    return isStruct(node) ? node : undefined
  },
  int(node: QueryNode | undefined): number | undefined {
    return typeof node === 'string' && /^-?\d+$/.test(node) ? Number(node) : undefined
  },
  bool(node: QueryNode | undefined): boolean | undefined {
    return node === 'true' ? true : node === 'false' ? false : undefined
  },
}

export function isStruct(node: QueryNode | undefined): node is QueryStruct {
  return typeof node === 'object' && !Array.isArray(node) && !(node instanceof Map)
}
