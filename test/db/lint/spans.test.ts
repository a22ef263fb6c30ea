import { describe, expect, it } from 'vitest'
import { lintSql, type Finding } from '../../../src/db/lint/index.js'

/** The text each finding covers, from its start to its end (both on one line here). */
function covered(sql: string, findings: Finding[]): Record<string, string> {
  const lines = sql.split('\n')
  return Object.fromEntries(
    findings.map((f) => {
      expect(f.end.line, `${f.rule} ends on its own line`).toBe(f.line)
      return [f.rule, lines[f.line - 1].slice(f.column - 1, f.end.column - 1)]
    }),
  )
}

describe('lint: where a finding ends', () => {
  it('ends at the offending ALTER TABLE command, not at the end of the statement', async () => {
    // Given one ALTER TABLE with three commands, the middle ones unsafe
    const sql =
      "ALTER TABLE users ADD COLUMN bio text, DROP COLUMN nickname, ALTER COLUMN email SET NOT NULL, ADD COLUMN c text DEFAULT 'x';"
    // When it is linted
    const findings = await lintSql(sql, 'a.sql', 'expand')
    // Then each finding covers its own command
    expect(covered(sql, findings)).toEqual({
      'drop-column': 'DROP COLUMN nickname',
      'set-not-null': 'ALTER COLUMN email SET NOT NULL',
    })
  })

  it('ends at the end of a column definition or constraint, past parentheses and quoted commas', async () => {
    const sql = [
      'ALTER TABLE orders ADD COLUMN meta json DEFAULT \'{"a": 1, "b": 2}\', ADD COLUMN note text;',
      "ALTER TABLE orders ADD CONSTRAINT status_known CHECK (status IN ('new,old', 'paid')), ADD COLUMN x int;",
      'ALTER TABLE orders ADD COLUMN token text DEFAULT make_token($$a, b$$);',
    ].join('\n')
    const findings = await lintSql(sql, 'a.sql', 'expand')
    expect(covered(sql, findings)).toEqual({
      'json-column': 'meta json DEFAULT \'{"a": 1, "b": 2}\'',
      'add-check-constraint': "CONSTRAINT status_known CHECK (status IN ('new,old', 'paid'))",
      'volatile-default': 'token text DEFAULT make_token($$a, b$$)',
    })
  })

  it('ends at the end of a table’s name as written, quoted and qualified', async () => {
    const sql = 'TRUNCATE app."Order, Items", sessions;\nLOCK TABLE "Big""Table" IN ACCESS EXCLUSIVE MODE;'
    const findings = await lintSql(sql, 'a.sql', 'expand')
    expect(covered(sql, findings)).toEqual({
      truncate: 'app."Order, Items"',
      'lock-table': '"Big""Table"',
    })
  })

  it('ends at the end of the statement when the parse tree places nothing narrower', async () => {
    const sql = 'DROP TABLE IF EXISTS legacy_orders CASCADE;'
    const [finding] = await lintSql(sql, 'a.sql', 'expand')
    expect(finding).toMatchObject({ rule: 'drop-table', line: 1, column: 1, end: { line: 1, column: 43 } })
  })
})
