import { describe, expect, it } from 'vitest'
import { createTestDatabase } from './postgres.js'
import { freePort, startProcess } from './process.js'

describe('test harness', () => {
  it('gives each test its own database in the shared PostgreSQL', async () => {
    const { default: pg } = await import('pg')
    const url = await createTestDatabase('harness')
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    const { rows } = await client.query<{ db: string }>('select current_database() as db')
    await client.end()
    expect(url).toContain(rows[0].db)
  })

  it('stops a started process and its children by PID', async () => {
    const port = await freePort()
    expect(port).toBeGreaterThan(0)
    const p = startProcess('sh', ['-c', 'sleep 30 & sleep 30'])
    await p.stop(500)
    expect(() => process.kill(p.pid, 0)).toThrow()
  })
})
