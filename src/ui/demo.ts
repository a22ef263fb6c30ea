/** Draws `bluegreen demo`'s narration, its summary and the --keep instructions for a person. */
import type { DemoEvent, DemoReady, DemoResult } from '../local/demo/index.js'
import { formatDuration } from '../format/duration.js'

const width = () => Math.max(60, Math.min(process.stdout.columns || 100, 110))

/** One demo event as text, or undefined for events that are data only. */
export function drawDemoEvent(event: DemoEvent): string | undefined {
  switch (event.type) {
    case 'demo.narrate':
      return wrap(`▸ ${event.topic}: ${event.text}`, '  ')
    case 'demo.answer':
      return wrap(
        `  → GET ${event.url} ${event.status}, answered by ${event.pool ?? '?'} (${event.version ?? '?'}, ${event.reads}): ${event.profiles.join(', ')}`,
        '    ',
      )
    case 'demo.stack':
      return undefined
  }
}

export function drawDemoSummary(result: DemoResult): string {
  const nameWidth = Math.max(...result.parts.map((p) => p.name.length))
  const lines = [
    '',
    `Done in ${formatDuration(result.ms)}:`,
    ...result.parts.map(
      (p) => `  ${p.name.padEnd(nameWidth)}  ${formatDuration(p.ms).padStart(7)}  ${p.detail}`,
    ),
    '',
    result.stopped
      ? 'Everything the demo started has stopped. To try the commands yourself: bluegreen demo --keep'
      : `Not everything the demo started could be stopped: ${result.parts.at(-1)?.detail ?? ''}. End it by hand.`,
  ]
  return lines.join('\n')
}

export function drawDemoReady(ready: DemoReady): string {
  const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`
  const run = Math.max(...ready.commands.map((c) => c.run.length))
  return [
    '',
    'The demo stack keeps running. In another terminal, in this directory:',
    '',
    ...Object.entries(ready.env).map(([key, value]) => `  export ${key}=${quote(value)}`),
    '',
    ...ready.commands.map((c) => `  ${c.run.padEnd(run)}   # ${c.why}`),
    '',
    'Press Ctrl-C here to stop everything.',
  ].join('\n')
}

/** Wraps at the terminal's width, indenting continuation lines. */
function wrap(text: string, indent: string): string {
  const max = width()
  const lines: string[] = []
  const lead = /^ */.exec(text)?.[0] ?? ''
  let line = lead
  for (const word of text.slice(lead.length).split(' ')) {
    if (line.trim() && line.length + 1 + word.length > max) {
      lines.push(line)
      line = indent + word
    } else line = line.trim() ? `${line} ${word}` : line + word
  }
  if (line.trim()) lines.push(line)
  return lines.join('\n')
}
