import { describe, expect, it } from 'vitest'
import { withClient, type Client } from '../../src/db/client.js'
import {
  appliedContracts,
  cancelPendingContract,
  markContractApplied,
  pendingContracts,
  recordPendingContract,
} from '../../src/journal/postgres-contracts.js'
import { ensureStateSchema } from '../../src/db/state-schema.js'
import type { BluegreenError } from '../../src/errors.js'
import { createTestDatabase } from '../support/postgres.js'

const sha = (c: string) => c.repeat(64)
const files = [
  { file: '001_drop_nickname.sql', checksum: sha('a') },
  { file: '002_drop_legacy.sql', checksum: sha('b') },
]
const hourAgo = new Date(Date.now() - 3_600_000)
const inADay = new Date(Date.now() + 86_400_000)

async function freshDatabase(fn: (client: Client) => Promise<void>): Promise<void> {
  await withClient(await createTestDatabase('ledger'), fn)
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure')
    },
    (error: unknown) => error as Error,
  )
}

describe('contract ledger', () => {
  it('records contracts as pending, oldest release first, with files in order and whether they are due', async () => {
    await freshDatabase(async (client) => {
      // Given two releases that recorded their contract migrations
      await recordPendingContract(client, {
        app: 'shop',
        release: 'r2',
        version: 'v2',
        releaseSeq: 2,
        dir: '/m/contract',
        files: [files[1]],
        notBefore: inADay,
      })
      await recordPendingContract(client, {
        app: 'shop',
        release: 'r1',
        version: 'v1',
        releaseSeq: 1,
        dir: '/m/contract',
        files,
        notBefore: hourAgo,
      })
      await recordPendingContract(client, {
        app: 'other',
        release: 'x1',
        dir: '/o',
        files: [],
        notBefore: hourAgo,
      })

      // When the pending contracts of the app are listed
      const pending = await pendingContracts(client, 'shop')

      // Then both are there, in release order, with their files and due flags
      expect(pending.map((p) => [p.release, p.version, p.releaseSeq, p.due])).toEqual([
        ['r1', 'v1', 1, true],
        ['r2', 'v2', 2, false],
      ])
      expect(pending[0].files).toEqual(files)
      expect(pending[0].notBefore.getTime()).toBe(hourAgo.getTime())
      expect(pending[1].dir).toBe('/m/contract')
    })
  })

  it('is idempotent for the same files and refuses other files or checksums for a recorded release', async () => {
    await freshDatabase(async (client) => {
      const entry = {
        app: 'shop',
        release: 'r1',
        version: 'v1',
        releaseSeq: 1,
        dir: '/m',
        files,
        notBefore: hourAgo,
      }
      expect(await recordPendingContract(client, entry)).toEqual({ recorded: true })
      expect(await recordPendingContract(client, entry)).toEqual({ recorded: false })

      const edited = { ...entry, files: [files[0], { ...files[1], checksum: sha('c') }] }
      const error = (await failure(recordPendingContract(client, edited))) as BluegreenError
      expect(error.code).toBe('MIGRATION_CHANGED')
      expect((await pendingContracts(client, 'shop'))[0].files).toEqual(files)
    })
  })

  it('marks a contract applied once, after which the schema refuses to change it', async () => {
    await freshDatabase(async (client) => {
      // Given a pending contract
      await recordPendingContract(client, {
        app: 'shop',
        release: 'r1',
        version: 'v1',
        releaseSeq: 1,
        dir: '/m',
        files,
        notBefore: hourAgo,
      })

      // When it is marked applied (twice: a resumed run does it again)
      await markContractApplied(client, { app: 'shop', release: 'r1' })
      await markContractApplied(client, { app: 'shop', release: 'r1' })

      // Then it is no longer pending, and is listed as applied
      expect(await pendingContracts(client, 'shop')).toEqual([])
      const [applied] = await appliedContracts(client, 'shop')
      expect(applied).toMatchObject({ release: 'r1', version: 'v1', releaseSeq: 1, files })
      expect(applied.appliedAt).toBeInstanceOf(Date)

      // And the schema itself refuses to edit what ran
      await expect(
        client.query("UPDATE bluegreen.contract_files SET checksum = repeat('d', 64)"),
      ).rejects.toThrow(/cannot change/)
      await expect(client.query('UPDATE bluegreen.contracts SET not_before = now()')).rejects.toThrow(
        /applied and cannot change/,
      )
      await expect(
        client.query(
          "INSERT INTO bluegreen.contract_files VALUES ('shop', 'r1', 9, '003_more.sql', repeat('e', 64))",
        ),
      ).rejects.toThrow(/final/)
    })
  })

  it('cancels a rolled-back release’s contract, which can then never be applied', async () => {
    await freshDatabase(async (client) => {
      await recordPendingContract(client, {
        app: 'shop',
        release: 'r1',
        releaseSeq: 1,
        dir: '/m',
        files,
        notBefore: hourAgo,
      })
      expect(await cancelPendingContract(client, { app: 'shop', release: 'r1' })).toBe(true)
      expect(await cancelPendingContract(client, { app: 'shop', release: 'r1' })).toBe(false)
      expect(await pendingContracts(client, 'shop')).toEqual([])
      const error = (await failure(
        markContractApplied(client, { app: 'shop', release: 'r1' }),
      )) as BluegreenError
      expect(error.code).toBe('CONTRACT_UNSAFE')
    })
  })

  it('keeps its rules in the schema: checksums, one row per release, applied or cancelled but not both', async () => {
    await freshDatabase(async (client) => {
      await ensureStateSchema(client)
      const insert = (release: string, seq: number, extra = '') =>
        client.query(
          `INSERT INTO bluegreen.contracts (app, release, version, release_seq, dir, not_before${extra ? ', applied_at, cancelled_at' : ''})
           VALUES ('shop', '${release}', 'v', ${seq}, '/m', now()${extra})`,
        )
      await insert('r1', 1)
      await expect(insert('r1', 2)).rejects.toThrow(/duplicate key/)
      await expect(insert('r2', 1)).rejects.toThrow(/duplicate key/)
      await expect(insert('r3', 3, ', now(), now()')).rejects.toThrow(/check constraint/)
      await expect(
        client.query(
          "INSERT INTO bluegreen.contract_files VALUES ('shop', 'r1', 0, 'a.sql', 'not-a-checksum')",
        ),
      ).rejects.toThrow(/check constraint/)
      await expect(
        client.query(
          `INSERT INTO bluegreen.contract_files VALUES ('shop', 'nope', 0, 'a.sql', repeat('a', 64))`,
        ),
      ).rejects.toThrow(/foreign key/)
    })
  })

  it('reads as empty before the state schema exists, and refuses to mark an unknown release', async () => {
    await freshDatabase(async (client) => {
      expect(await pendingContracts(client, 'shop')).toEqual([])
      expect(await appliedContracts(client, 'shop')).toEqual([])
      expect(
        ((await failure(markContractApplied(client, { app: 'shop', release: 'nope' }))) as BluegreenError)
          .code,
      ).toBe('CONTRACT_FAILED')
    })
  })
})
