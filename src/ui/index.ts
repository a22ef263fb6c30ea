/** Picks the renderer: NDJSON under --json, listr2 on a terminal, plain lines otherwise (and with CI=true). */
import { stamp, type Emit, type StampedEvent } from '../events.js'
import { redactDeep } from '../redact.js'
import { ndjsonRenderer } from './ndjson.js'
import { plainRenderer } from './plain.js'

export type OutputMode = 'json' | 'tty' | 'plain'

export function outputMode(json: boolean): OutputMode {
  if (json) return 'json'
  if (process.stdout.isTTY && process.env.CI !== 'true' && process.env.TERM !== 'dumb') return 'tty'
  return 'plain'
}

export interface Renderer {
  emit: Emit
  /** Waits for the renderer to draw the last state. */
  finish(): Promise<void>
  /** Every event so far, stamped (the JSON result carries none of them; tests use this). */
  events: StampedEvent[]
}

export async function createRenderer(mode: OutputMode): Promise<Renderer> {
  const events: StampedEvent[] = []
  let render: (event: StampedEvent) => void
  let finish = async () => {}
  if (mode === 'json') render = ndjsonRenderer()
  else if (mode === 'plain') render = plainRenderer()
  else {
    const { listrRenderer } = await import('./listr.js')
    const listr = await listrRenderer()
    render = listr.emit
    finish = listr.finish
  }
  return {
    emit: (event) => {
      // Redacted once, before any renderer (or a test reading `events`) sees it.
      const stamped = redactDeep(stamp(event))
      events.push(stamped)
      render(stamped)
    },
    finish,
    events,
  }
}
