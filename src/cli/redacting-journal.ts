/**
 * The journal never receives a secret: every store (PostgreSQL, the state file, the offline
 * journal) is wrapped in this decorator where the context opens it, so every string argument of
 * every method call (a step's summary, a release's error, an audit entry's detail, the lock
 * holder's command line) is redacted before the store sees it.
 *
 * A Proxy rather than a class that lists the methods: a method added to the Journal port is
 * covered without anyone remembering to add it here. Callbacks (`withLock`'s `fn`) and what the
 * store returns pass through unchanged; properties (`kind`, PostgresJournal's `connection`) are
 * read from the store itself, and `instanceof` still sees the store's class.
 */
import type { Journal } from '../journal/journal.js'
import { redactDeep } from '../redact.js'

export function redactingJournal<J extends Journal>(journal: J): J {
  const wrapped = new Map<PropertyKey, unknown>()
  return new Proxy(journal, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (!wrapped.has(property)) {
        const method = value as (...args: unknown[]) => unknown
        wrapped.set(property, (...args: unknown[]) =>
          method.apply(
            target,
            args.map((arg) => redactDeep(arg)),
          ),
        )
      }
      return wrapped.get(property)
    },
  })
}
