import type { BluegreenError } from '../../src/errors.js'

/** The error a promise must reject with; fails the test when it resolves. */
export async function failure(promise: Promise<unknown>): Promise<BluegreenError> {
  return promise.then(
    () => {
      throw new Error('expected a failure')
    },
    (error: unknown) => error as BluegreenError,
  )
}
