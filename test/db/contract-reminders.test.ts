/** The ledger's memory of reminders (contract --check): each claimed once, given back on failure. */
import { describe, expect, it } from 'vitest'
import { withClient } from '../../src/db/client.js'
import { postgresContractLedger } from '../../src/journal/postgres-contracts.js'
import { createTestDatabase } from '../support/postgres.js'

describe('contract reminders in the ledger', () => {
  it('claims each reminder once, also when checks race, and gives it back when asked', async () => {
    await withClient(await createTestDatabase('reminders'), async (client) => {
      const ledger = postgresContractLedger(client)
      await ledger.record({
        app: 'shop',
        release: 'r1',
        version: 'v1',
        releaseSeq: 1,
        dir: '/m/contract',
        files: [{ file: '001.sql', checksum: 'a'.repeat(64) }],
        notBefore: new Date(Date.now() - 1000),
      })
      const key = { app: 'shop', release: 'r1' }
      // Of many claims at once, one wins
      const claims = await Promise.all(
        Array.from({ length: 5 }, () => ledger.claimReminder({ ...key, reminder: 'due' })),
      )
      expect(claims.filter(Boolean)).toHaveLength(1)
      expect(await ledger.claimReminder({ ...key, reminder: 'due' })).toBe(false)
      const [pending] = await ledger.pending('shop')
      expect(pending.notifiedDueAt).toBeInstanceOf(Date)
      expect(pending.notifiedOverdueAt).toBeUndefined()
      // overdue is its own reminder; given back, it can be claimed again
      expect(await ledger.claimReminder({ ...key, reminder: 'overdue' })).toBe(true)
      await ledger.unclaimReminder({ ...key, reminder: 'overdue' })
      expect((await ledger.pending('shop'))[0].notifiedOverdueAt).toBeUndefined()
      expect(await ledger.claimReminder({ ...key, reminder: 'overdue' })).toBe(true)
      // An applied contract reminds of nothing
      await ledger.markApplied(key)
      await ledger.unclaimReminder({ ...key, reminder: 'due' })
      expect(await ledger.claimReminder({ ...key, reminder: 'due' })).toBe(false)
      expect(await ledger.applied('shop')).toHaveLength(1)
    })
  })
})
