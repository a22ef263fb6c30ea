/** --json: one JSON object per line on stdout, events first, the result last. Nothing else. */
import { redactJson } from '../redact.js'
import type { StampedEvent } from '../events.js'

export function ndjsonRenderer(write: (line: string) => void = (line) => process.stdout.write(line + '\n')) {
  return (event: StampedEvent) => write(redactJson(event))
}
