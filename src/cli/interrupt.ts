/**
 * Ctrl-C (or SIGTERM) as a cancellation, not a kill: the first signal aborts `signal` with an
 * INTERRUPTED error so the work stops at its next safe point and cleans up; a second one quits
 * at once (exit 130). `withInterrupts` removes its handlers when `fn` ends.
 */
import { BluegreenError } from '../errors.js'

export async function withInterrupts<T>(
  options: { hint: string; onFirst?: (signal: NodeJS.Signals) => void },
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130)
    options.onFirst?.(signal)
    controller.abort(
      new BluegreenError({ code: 'INTERRUPTED', message: `interrupted by ${signal}`, hint: options.hint }),
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    return await fn(controller.signal)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
