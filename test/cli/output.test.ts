import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { sourceStack } from '../../src/cli/output.js'
import { ensureBuilt, repoRoot } from '../support/cli.js'

/** 1-based line and column of the first `needle` in `file`. */
function positionOf(file: string, needle: string): { line: number; column: number } {
  const lines = readFileSync(file, 'utf8').split('\n')
  const line = lines.findIndex((l) => l.includes(needle))
  if (line === -1) throw new Error(`${needle} is not in ${file}`)
  return { line: line + 1, column: lines[line].indexOf(needle) + 1 }
}

describe('a bug report names the source, not the bundle', () => {
  it('maps frames in dist/ through their source maps to src/ files and lines', () => {
    ensureBuilt()
    const bundled = join(repoRoot, 'dist/cli/fast-path.js')
    const at = positionOf(bundled, 'function parseInvocation(')
    const source = positionOf(join(repoRoot, 'src/cli/fast-path.ts'), 'function parseInvocation(')
    const stack = [
      'TypeError: boom',
      `    at parseInvocation (${pathToFileURL(bundled).href}:${at.line}:${at.column})`,
      '    at node:internal/main/run_main_module:28:49',
      '    at file:///nowhere/not-ours.js:3:4',
    ].join('\n')
    const mapped = sourceStack(stack).split('\n')
    expect(mapped[1]).toBe(
      `    at parseInvocation (${join(repoRoot, 'src/cli/fast-path.ts')}:${source.line}:${source.column})`,
    )
    // Frames without a source map stay as they were.
    expect(mapped.slice(2)).toEqual(stack.split('\n').slice(2))
  })
})
