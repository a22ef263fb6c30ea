import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'

describe('bluegreen plan schema', () => {
  it('prints exactly the checked-in plans/plan.schema.json', async () => {
    const { code, stdout } = await runCli(['plan', 'schema'])
    expect(code).toBe(0)
    expect(stdout).toBe(readFileSync('plans/plan.schema.json', 'utf8'))
  })

  it('wraps the schema in one result object with --json', async () => {
    const { code, stdout } = await runCli(['plan', 'schema', '--json'])
    expect(code).toBe(0)
    const result = JSON.parse(stdout) as { ok: boolean; schema: { title: string } }
    expect(result.ok).toBe(true)
    expect(result.schema.title).toBe('bluegreen plan')
  })
})
