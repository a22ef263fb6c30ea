import { describe, expect, it } from 'vitest'
import { withClient } from '../../src/db/client.js'
import { expressionProblem } from '../../src/db/sync-expressions.js'
import { installSync, tableSyncs } from '../../src/db/sync.js'
import { failure } from '../support/failure.js'
import { createTestDatabase } from '../support/postgres.js'

describe('sync expressions', () => {
  it('are parsed before the install touches the database: a syntax error is a plan error', async () => {
    const url = await createTestDatabase('sync_expressions')
    await withClient(url, async (client) => {
      await client.query('CREATE TABLE profiles (id int PRIMARY KEY, name text, first_name text)')
      // Given a sync whose backward expression passes the lexical check at load but does not parse
      const [sync] = tableSyncs(
        [
          {
            table: 'profiles',
            forward: { first_name: "split_part(name, ' ', 1)" },
            backward: { name: "concat_ws(' ' first_name)" },
          },
        ],
        'phases[1].expand',
      )

      // When it is installed
      const error = await failure(
        installSync(client, sync, {
          app: 'shop',
          release: 'r2',
          version: '2.0.0',
          releaseSeq: 2,
          lockTimeoutMs: 500,
        }),
      )

      // Then it is refused as a plan error, naming the place in the plan and the expression, with a hint
      expect(error.code).toBe('PLAN_INVALID')
      expect(error.exitCode).toBe(2)
      expect(error.message).toMatch(
        /^phases\[1\]\.expand\.sync\[0\]\.backward\.name: does not parse: syntax error at or near "first_name" \(at character 15 of "concat_ws\(' ' first_name\)"\)$/,
      )
      expect(error.hint).toContain('one SQL expression')
      // And nothing was installed, not even bluegreen's state schema
      const schema = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = 'bluegreen'")
      expect(schema.rowCount).toBe(0)
      const triggers = await client.query("SELECT 1 FROM pg_trigger WHERE tgrelid = 'profiles'::regclass")
      expect(triggers.rowCount).toBe(0)
    })
  })

  it('tell one expression from a list, a statement or a fragment', async () => {
    expect(await expressionProblem("split_part(name, ' ', 1)")).toBeUndefined()
    expect(await expressionProblem("CASE WHEN a THEN 'x' END")).toBeUndefined()
    expect(await expressionProblem('name), (name')).toMatchObject({ message: 'is not one SQL expression' })
    expect(await expressionProblem('1); DROP TABLE profiles; SELECT (1')).toMatchObject({
      message: 'is not one SQL expression',
    })
    expect(await expressionProblem('name + * 1')).toMatchObject({
      index: 7,
      message: expect.stringContaining('does not parse') as string,
    })
  })
})
