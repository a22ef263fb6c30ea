/**
 * The terminal renderer draws one listr2 task per step. Events that belong to no step (a
 * warning, an automatic rollback) can only be shown under the running step, where the next
 * progress line replaces them: they must come again once the tree is done.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { stamp, type EngineEvent } from '../../src/events.js'
import { listrRenderer } from '../../src/ui/listr.js'

afterEach(() => vi.restoreAllMocks())

describe('listr renderer', () => {
  it('repeats warnings and rollbacks below the finished tree, and nothing else', async () => {
    const written: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    })
    const ui = await listrRenderer()
    const events: EngineEvent[] = [
      {
        type: 'release.start',
        app: 'shop',
        version: '2.0.0',
        releaseId: 'r1',
        from: 'blue',
        to: 'green',
        resumed: false,
        dryRun: false,
        steps: [{ index: 0, kind: 'verify', summary: 'watch production', touches: 'nothing' }],
      },
      { type: 'step.start', index: 0, kind: 'verify', summary: 'watch production' },
      { type: 'warning', message: 'insecure: TLS certificates are not checked' },
      { type: 'info', message: 'just so you know' },
      { type: 'rollback.start', from: 'green', to: 'blue', reason: 'verify failed', automatic: true },
      { type: 'step.progress', index: 0, kind: 'verify', message: '12 requests, 0 failed' },
      { type: 'rollback.done', from: 'green', to: 'blue', ms: 180 },
      { type: 'step.done', index: 0, kind: 'verify', ms: 2000, summary: 'production answered' },
    ]
    for (const event of events) {
      ui.emit(stamp(event))
      // Let listr2 pick each change up, as it would between real events.
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await ui.finish()
    const after = written.join('').split('production answered').at(-1) ?? ''
    expect(after).toContain('warning: insecure: TLS certificates are not checked')
    expect(after).toContain('automatic rollback: green → blue (verify failed)')
    expect(after).toContain('rollback done in 180ms: blue is live')
    expect(after).not.toContain('just so you know')
  })
})
