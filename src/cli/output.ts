/**
 * How every command writes: lines and JSON values with secrets removed, and one way to report
 * a failure. A BluegreenError prints its message and hint (or a JSON error object under --json)
 * and sets the exit code it implies; anything else is a bug and prints its stack (exit 70).
 * Free of oclif, so the rollback fast path (fast-path.ts) reports exactly as the commands do.
 */
import { formatError, isBluegreenError, type BluegreenError } from '../errors.js'
import { redact, redactJson } from '../redact.js'
import { SourceMaps } from './source-map.js'

/** Exit status for an unexpected error (EX_SOFTWARE): pipelines can tell a bug from codes 1–5. */
export const BUG_EXIT_CODE = 70

/** Writes one line to stdout, with secrets removed. */
export function printLine(text: string): void {
  process.stdout.write(redact(text) + '\n')
}

/** Writes one line to stderr, with secrets removed. */
export function printError(text: string): void {
  process.stderr.write(redact(text) + '\n')
}

/** Writes a JSON value as one line to stdout, with secrets removed. */
export function printJson(value: unknown): void {
  process.stdout.write(redactJson(value) + '\n')
}

/** Prints a BluegreenError for a person (stderr) or a program (a JSON result on stdout). */
export function reportError(error: BluegreenError, json: boolean): void {
  if (json) printJson({ type: 'result', ok: false, error: error.toJSON() })
  else printError(formatError(error))
  process.exitCode = error.exitCode
}

/** Reports any failure: a BluegreenError as above, anything else as a bug with its stack. */
export function reportFailure(error: unknown, json: boolean): void {
  if (isBluegreenError(error)) return reportError(error, json)
  const text = error instanceof Error ? sourceStack(error.stack ?? String(error)) : String(error)
  process.stderr.write(`bluegreen: unexpected error (this is a bug, please report it):\n${redact(text)}\n`)
  process.exitCode = BUG_EXIT_CODE
}

/**
 * dist/ is a bundle (scripts/build.ts): a bug report should name src/ files and lines, not
 * chunk-XYZ.js. (Node's --enable-source-maps would do the same, but reads every map at start-up.)
 */
export function sourceStack(stack: string): string {
  const maps = new SourceMaps()
  return stack.replace(/file:\/\/[^\s)]+?\.js:(\d+):(\d+)/g, (frame, line: string, column: string) => {
    const url = frame.slice(0, frame.length - line.length - column.length - 2)
    try {
      const at = maps.original(url, Number(line) - 1, Number(column) - 1)
      return at ? `${at.file}:${at.line + 1}:${at.column + 1}` : frame
    } catch {
      return frame
    }
  })
}
