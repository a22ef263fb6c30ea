/**
 * dist/ is a bundle (scripts/build.ts) with a source map beside each file. This maps a position
 * in a bundled file back to the source it came from: for bug reports (output.ts) and for the
 * benchmarks' CPU profiles (bench/lib/profile.ts).
 */
import { existsSync, readFileSync } from 'node:fs'
import { SourceMap, type SourceMapPayload } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface SourcePosition {
  /** Absolute path of the source file. */
  file: string
  /** 0-based, as in source maps and V8's CPU profiles. */
  line: number
  column: number
}

export class SourceMaps {
  private readonly maps = new Map<string, SourceMap | undefined>()

  /** `file` (a path or file: URL) at a 0-based line and column, in its source; or undefined. */
  original(file: string, line: number, column: number): SourcePosition | undefined {
    const path = file.startsWith('file:') ? fileURLToPath(file) : file
    if (!this.maps.has(path)) {
      const map = `${path}.map`
      this.maps.set(
        path,
        existsSync(map)
          ? new SourceMap(JSON.parse(readFileSync(map, 'utf8')) as SourceMapPayload)
          : undefined,
      )
    }
    const entry = this.maps.get(path)?.findEntry(line, column)
    if (!entry || !('originalSource' in entry)) return undefined
    const source = entry.originalSource
    return {
      file: source.startsWith('file:') ? fileURLToPath(source) : resolve(dirname(path), source),
      line: entry.originalLine,
      column: entry.originalColumn,
    }
  }
}
