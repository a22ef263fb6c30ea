/**
 * On a terminal: a listr2 task tree, one task per step, driven by engine events. The engine
 * knows nothing of listr2; this adapter turns each step's start/done/fail into a task that
 * resolves or rejects, and progress into the task's output line (with ETA for backfills).
 * Every text handed to listr2 (titles, output lines, error blocks, skip reasons) is redacted here,
 * whatever the renderer was given. Events that belong to no step show under the running step, where the next progress line
 * replaces them; warnings and rollbacks among them are printed again below the finished tree, so
 * an operator never misses one.
 */
import type { StampedEvent } from '../events.js'
import { formatDuration } from '../format/duration.js'
import { redact } from '../redact.js'
import { plainLine } from './plain.js'

interface Deferred {
  resolve: (title?: string) => void
  reject: (error: Error) => void
  setOutput?: (text: string) => void
  setTitle?: (text: string) => void
  skip?: (reason: string) => void
}

export async function listrRenderer(): Promise<{
  emit: (event: StampedEvent) => void
  finish: () => Promise<void>
}> {
  const { Listr } = await import('listr2')
  const steps = new Map<number, Deferred & { started: Promise<void>; markStarted: () => void }>()
  let run: Promise<unknown> | undefined
  /** The step being drawn as running, for events that belong to no step (switch, info, …). */
  let current: number | undefined
  const pending: StampedEvent[] = []
  /** Lines shown only fleetingly under a running step, to repeat once the tree is done. */
  const kept: string[] = []
  /**
   * Lines that arrive while the tree is drawn but no step runs (between steps, or after a step
   * failed: the automatic rollback): printed once listr2 has let go of the terminal. A finished
   * task's output must not be set, listr2 has no stream for it any more.
   */
  const after: string[] = []

  const emit = (event: StampedEvent): void => {
    if (event.type === 'release.start' && !event.dryRun && !run) {
      process.stdout.write(redact(plainLine(event, event.steps.length) ?? '') + '\n')
      const tasks = event.steps.map((step) => {
        let markStarted!: () => void
        const started = new Promise<void>((resolve) => (markStarted = resolve))
        const deferred = { started, markStarted } as Deferred & {
          started: Promise<void>
          markStarted: () => void
        }
        steps.set(step.index, deferred)
        return {
          title: redact(`${step.kind.padEnd(9)} ${step.summary}`),
          task: async (
            _ctx: unknown,
            task: { output: string; title: string; skip: (m?: string) => void },
          ) => {
            await started
            await new Promise<void>((resolve, reject) => {
              deferred.resolve = (title) => {
                if (title) task.title = redact(title)
                resolve()
              }
              deferred.reject = reject
              deferred.setOutput = (text) => (task.output = redact(text))
              deferred.setTitle = (text) => (task.title = redact(text))
              deferred.skip = (reason) => {
                task.skip(redact(reason))
                resolve()
              }
              for (const queued of pending.splice(0)) emit(queued)
            })
          },
        }
      })
      run = new Listr(tasks, {
        concurrent: false,
        exitOnError: true,
        rendererOptions: { collapseErrors: false, showErrorMessage: true },
      })
        .run()
        .catch(() => {})
      return
    }
    const step = 'index' in event ? steps.get(event.index) : undefined
    if (!run || !step) {
      const line = plainLine(event, steps.size)
      if (!line) return
      // While the tree is drawn, listr2 owns the terminal: show the event under the running step.
      const running = current === undefined ? undefined : steps.get(current)
      if (run && running?.setOutput && event.type !== 'release.start') {
        running.setOutput(line.slice(9))
        if (keptTypes.has(event.type)) kept.push(line)
      } else if (run) after.push(line)
      else process.stdout.write(redact(line) + '\n')
      return
    }
    if (event.type === 'step.start') current = event.index
    if (event.type === 'step.skip') {
      finished(event.index)
      step.markStarted()
      if (step.skip) step.skip(event.reason)
      else pending.push(event)
      return
    }
    if (event.type === 'step.start') return step.markStarted()
    if (!step.resolve) return void pending.push(event)
    switch (event.type) {
      case 'step.progress':
        step.setOutput?.(
          event.message +
            (event.etaMs !== undefined ? ` · ETA ${formatDuration(event.etaMs)}` : '') +
            progressBar(event.done, event.total),
        )
        break
      case 'step.output':
        step.setOutput?.(event.line)
        break
      case 'step.done':
        finished(event.index)
        step.resolve(`${event.kind.padEnd(9)} ${event.summary} (${formatDuration(event.ms)})`)
        break
      case 'approval.waiting':
        finished(event.index)
        step.resolve(`${event.kind.padEnd(9)} waits for approval until ${event.deadline}`)
        break
      case 'step.fail':
        finished(event.index)
        step.reject(new Error(redact([event.message, ...event.details].join('\n'))))
        break
    }
  }
  const finished = (index: number) => {
    const step = steps.get(index)
    if (step) step.setOutput = undefined
    if (current === index) current = undefined
  }
  return {
    emit,
    finish: async () => {
      await run
      for (const line of [...kept.splice(0), ...after.splice(0)]) process.stdout.write(redact(line) + '\n')
    },
  }
}

const keptTypes = new Set<StampedEvent['type']>(['warning', 'rollback.start', 'rollback.done'])

function progressBar(done: number | undefined, total: number | undefined): string {
  if (done === undefined || !total) return ''
  const width = 24
  const filled = Math.min(width, Math.round((done / total) * width))
  return `\n[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${Math.round((done / total) * 100)}%`
}
