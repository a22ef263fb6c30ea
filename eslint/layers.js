/**
 * `bluegreen/layers`: imports in src/ point down the layers, never up (DESIGN.md, "Layout").
 * A file may import its own folder, the layers below its own, and the sideways imports listed
 * in `sideways`. Type-only imports count too: a type is a dependency as much as a value.
 *
 *   commands → cli → ui → local → engine → plan → phases → journal → (lb, db, http, notify)
 *   → format → ground (the files directly in src/)
 */
import { dirname, relative, resolve, sep } from 'node:path'

export const layers = [
  ['commands'],
  ['cli'],
  ['ui'],
  ['local'],
  ['engine'],
  ['plan'],
  ['phases'],
  ['journal'],
  ['lb', 'db', 'http', 'notify'],
  ['format'],
  ['.'],
]

/** Imports between folders of one layer that are allowed, and why. */
export const sideways = {
  // A webhook is an HTTP request: notify sends through http/request.ts.
  notify: ['http'],
}

const rank = new Map(layers.flatMap((folders, i) => folders.map((folder) => [folder, i])))

/** The top folder under src/ of a path (`.` for a file directly in src/), or undefined outside src/. */
export function folderOf(file, srcDir) {
  const rel = relative(srcDir, file)
  if (rel.startsWith('..') || rel === '') return undefined
  const parts = rel.split(sep)
  return parts.length === 1 ? '.' : parts[0]
}

/** Why `from` may not import `to`, or undefined when it may. */
export function layerProblem(from, to) {
  if (from === to) return undefined
  if ((sideways[from] ?? []).includes(to)) return undefined
  const a = rank.get(from)
  const b = rank.get(to)
  if (a === undefined) return `src/${from}/ is in no layer; add it to eslint/layers.js`
  if (b === undefined) return `src/${to}/ is in no layer; add it to eslint/layers.js`
  if (b > a) return undefined
  const name = (folder) => (folder === '.' ? 'the ground layer (src/*.ts)' : `src/${folder}/`)
  return b === a
    ? `${name(from)} and ${name(to)} are one layer: neither imports the other`
    : `${name(from)} is below ${name(to)}: imports point down (commands → cli → ui → local → engine → plan → phases → journal → lb, db, http, notify → format → ground)`
}

export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports in src/ point down the layers' },
    schema: [{ type: 'object', properties: { srcDir: { type: 'string' } }, additionalProperties: false }],
    messages: { wrongWay: 'wrong-way import of {{spec}}: {{problem}}' },
  },
  create(context) {
    const srcDir = resolve(context.cwd, context.options[0]?.srcDir ?? 'src')
    const file = context.filename
    const from = folderOf(file, srcDir)
    if (from === undefined) return {}
    const check = (node, source) => {
      if (!source || typeof source.value !== 'string' || !source.value.startsWith('.')) return
      const to = folderOf(resolve(dirname(file), source.value), srcDir)
      if (to === undefined) return
      const problem = layerProblem(from, to)
      if (problem) context.report({ node, messageId: 'wrongWay', data: { spec: source.value, problem } })
    }
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source),
    }
  },
}

export default { rules: { layers: layersRule } }
