import { describe, expect, it } from 'vitest'
import { packagesLoaded, runCli } from '../support/cli.js'

const fixtures = 'test/fixtures/sql/lint'

describe('bluegreen lint', () => {
  it('exits 0 on safe files and says so', async () => {
    const { code, stdout, stderr } = await runCli(['lint', `${fixtures}/expand-safe`])
    expect(stdout).toBe('')
    expect(stderr.trim()).toMatch(/^✓ \d+ files safe for expand$/)
    expect(code).toBe(0)
  })

  it('exits 1 on findings, printed like a compiler with a hint each', async () => {
    const file = `${fixtures}/expand-unsafe/several-problems.sql`
    const { code, stdout } = await runCli(['lint', file])
    expect(stdout.trim().split('\n')).toEqual([
      `${file}:3:13: error rename-column renaming column users.name to full_name breaks the running version, which uses the old name`,
      expect.stringMatching(/^ {2}hint: add a new column, backfill it/),
      `${file}:4:55: error alter-column-type changing the type of orders.total to bigint rewrites the table under an ACCESS EXCLUSIVE lock`,
      expect.stringMatching(/^ {2}hint: add a column of the new type/),
      `${file}:4:74: error drop-column dropping column orders.legacy breaks the running version, which may still use it`,
      expect.stringMatching(/^ {2}hint: stop using the column/),
      `${file}:5:17: error create-index CREATE INDEX on orders without CONCURRENTLY blocks writes to the table while it builds`,
      expect.stringMatching(/^ {2}hint: use CREATE INDEX CONCURRENTLY/),
    ])
    expect(code).toBe(1)
  })

  it('applies the contract phase’s rules with --phase contract', async () => {
    const safe = await runCli(['lint', `${fixtures}/contract-safe`, '--phase', 'contract'])
    expect(safe.code).toBe(0)
    const unsafe = await runCli([
      'lint',
      `${fixtures}/expand-unsafe/drop-column.sql`,
      `${fixtures}/contract-unsafe/create-index.sql`,
      '--phase',
      'contract',
    ])
    expect(unsafe.stdout).toMatch(/create-index\.sql:3:35: error create-index /)
    expect(unsafe.stdout).not.toMatch(/drop-column/)
    expect(unsafe.code).toBe(1)
  })

  it('exits 2 when a file does not parse, and still lints the others', async () => {
    const { code, stdout } = await runCli([
      'lint',
      'test/fixtures/sql/broken',
      `${fixtures}/expand-unsafe/truncate.sql`,
    ])
    expect(stdout).toContain(
      'test/fixtures/sql/broken/syntax-error.sql:3:44: error syntax error at or near "DEFALT"',
    )
    expect(stdout).toContain('truncate.sql:2:16: error truncate ')
    expect(code).toBe(2)
  })

  it('prints one JSON result with --json, and loads the SQL parser but never pg', async () => {
    const file = `${fixtures}/contract-unsafe/foreign-key.sql`
    const { code, stdout, modules } = await runCli(['lint', file, '--phase', 'contract', '--json'], {
      traceModules: true,
    })
    expect(JSON.parse(stdout)).toEqual({
      type: 'result',
      ok: false,
      phase: 'contract',
      files: [file],
      findings: [
        expect.objectContaining({ rule: 'add-foreign-key', severity: 'error', file, line: 2, column: 24 }),
      ],
      parseErrors: [],
    })
    expect(code).toBe(1)
    expect(packagesLoaded(modules, ['libpg-query', 'pg'])).toEqual(['libpg-query'])
  })

  it('lists the rules without loading the SQL parser', async () => {
    const { code, stdout, modules } = await runCli(['lint', '--rules'], { traceModules: true })
    expect(stdout).toMatch(/^drop-column \(error, expand\): /m)
    expect(stdout).toMatch(/^create-index \(error, expand\+contract\): /m)
    expect(packagesLoaded(modules, ['libpg-query', 'pg'])).toEqual([])
    expect(code).toBe(0)
  })

  it('is a usage error (exit 2) to name a path that does not exist', async () => {
    const { code, stderr } = await runCli(['lint', 'no/such/dir'])
    expect(stderr).toContain('Error [USAGE]: no such file or directory: no/such/dir')
    expect(code).toBe(2)
  })
})
