/**
 * The file journal's lock (plans without a database) with --wait-lock's options: a second
 * holder waits, is told who holds the lock, and gets it once the first lets go; without waitMs
 * it fails at once with LOCKED, as before. Real files in a temp directory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FileJournal } from '../../src/journal/file.js'
import { currentHolder, type LockHolder } from '../../src/journal/journal.js'
import { isBluegreenError } from '../../src/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'bluegreen-file-lock-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('FileJournal.withLock with waitMs', () => {
  it('waits for the holder, says who it is, then takes the lock; without waitMs fails at once', async () => {
    const journal = new FileJournal(join(dir, 'shop.state.json'))
    const order: string[] = []
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    // Given a command holding the lock
    const first = journal.withLock('shop', currentHolder('bluegreen release 2.0.0'), async () => {
      order.push('first in')
      await held
      order.push('first out')
    })
    await new Promise((resolve) => setTimeout(resolve, 50))

    // When another tries without waiting: LOCKED at once
    const refused: unknown = await journal
      .withLock('shop', currentHolder('bluegreen retire'), () => Promise.resolve())
      .catch((e: unknown) => e)
    expect(isBluegreenError(refused) && refused.code).toBe('LOCKED')

    // When another waits up to 5 s
    const seen: (LockHolder | undefined)[] = []
    const second = journal.withLock(
      'shop',
      currentHolder('bluegreen release 3.0.0'),
      () => {
        order.push('second in')
        return Promise.resolve()
      },
      { waitMs: 5000, onWait: (holder) => seen.push(holder) },
    )
    await new Promise((resolve) => setTimeout(resolve, 600))
    release()
    await Promise.all([first, second])

    // Then it ran after the first let go, and was told who held the lock
    expect(order).toEqual(['first in', 'first out', 'second in'])
    expect(seen.length).toBeGreaterThan(1)
    expect(seen[0]?.command).toBe('bluegreen release 2.0.0')
  })

  it('gives up with LOCKED when the wait is over', async () => {
    const journal = new FileJournal(join(dir, 'cart.state.json'))
    let release!: () => void
    const first = journal.withLock(
      'cart',
      currentHolder('bluegreen release'),
      () => new Promise<void>((r) => (release = r)),
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    const started = Date.now()
    const error: unknown = await journal
      .withLock('cart', currentHolder('bluegreen contract'), () => Promise.resolve(), { waitMs: 700 })
      .catch((e: unknown) => e)
    expect(isBluegreenError(error) && error.code).toBe('LOCKED')
    expect(Date.now() - started).toBeGreaterThanOrEqual(650)
    release()
    await first
  })
})
