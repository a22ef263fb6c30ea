/**
 * What every failing command in the drills must print: an error a user can act on (DESIGN.md:
 * `Error [CODE]: message` and a hint), never a stack trace or the "unexpected error" of a bug.
 */
import { expect as hardExpect } from 'vitest'

/** A line of a JavaScript stack trace, as Node prints them. */
export const stackLine = /^ {4}at /m

/** `expect` may be `expect.soft`, so that a drill goes on and reports what follows too. */
export function expectActionable(
  stderr: string,
  code?: string,
  expect: typeof hardExpect.soft = hardExpect,
): void {
  expect(stderr).toMatch(code ? new RegExp(`^Error \\[${code}\\]: .+`, 'm') : /^Error \[[A-Z_]+\]: .+/m)
  expect(stderr).toMatch(/^Hint: .+/m)
  expect(stderr).not.toMatch(stackLine)
  expect(stderr).not.toContain('unexpected error')
}
