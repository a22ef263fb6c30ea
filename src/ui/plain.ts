/** One plain line per event: for CI logs and anything that is not a terminal. */
import { formatDuration } from '../format/duration.js'
import { redact } from '../redact.js'
import type { StampedEvent } from '../events.js'

export function plainLine(event: StampedEvent, total: number): string | undefined {
  const time = event.at.slice(11, 19)
  const step = 'index' in event ? `[${event.index + 1}/${total} ${event.kind}]` : ''
  switch (event.type) {
    case 'release.start':
      return `${time} ${event.dryRun ? 'dry run of' : event.resumed ? 'resuming' : 'releasing'} ${event.app} ${event.version}: ${event.from} → ${event.to} (${event.steps.length} steps)${
        event.dryRun
          ? '\n' +
            event.steps
              .map((s) => `  ${s.index + 1}. ${s.kind.padEnd(9)} ${s.touches.padEnd(14)} ${s.summary}`)
              .join('\n')
          : ''
      }`
    case 'step.start':
      return `${time} ${step} ${event.summary}`
    case 'step.skip':
      return `${time} ${step} skipped: ${event.reason}`
    case 'step.progress':
      return `${time} ${step} ${event.message}${event.etaMs !== undefined ? ` (ETA ${formatDuration(event.etaMs)})` : ''}`
    case 'step.output':
      return `${time} ${step} │ ${event.line}`
    case 'step.done':
      return `${time} ${step} done in ${formatDuration(event.ms)}: ${event.summary}`
    case 'step.fail':
      return [
        `${time} ${step} FAILED after ${formatDuration(event.ms)}: ${event.message}`,
        ...event.details.map((d) => `    ${d}`),
      ].join('\n')
    case 'switch':
      return `${time} switch: blue ${event.weights.blue}% / green ${event.weights.green}%${event.changed ? '' : ' (unchanged)'}`
    case 'rollback.start':
      return `${time} ${event.automatic ? 'automatic ' : ''}rollback: ${event.from} → ${event.to} (${event.reason})`
    case 'rollback.done':
      return `${time} rollback done in ${formatDuration(event.ms)}: ${event.to} is live`
    case 'contract.run':
      return `${time} contract of ${event.version}: ${event.files.join(', ')}`
    case 'contract.wait':
      return `${time} contract of ${event.version} waits: ${event.reason}`
    case 'approval.waiting':
      return `${time} ${step} ${event.version} waits for approval until ${event.deadline}, then ${event.onTimeout === 'rollback' ? 'rolls back' : 'is abandoned'}`
    case 'warning':
      return `${time} warning: ${event.message}`
    case 'info':
      return `${time} ${event.message}`
  }
}

export function plainRenderer(write: (line: string) => void = (line) => process.stdout.write(line + '\n')) {
  let total = 0
  return (event: StampedEvent) => {
    if (event.type === 'release.start') total = event.steps.length
    const line = plainLine(event, total)
    if (line !== undefined) write(redact(line))
  }
}
