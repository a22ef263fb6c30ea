import { describe, expect, it } from 'vitest'
import { lintRules, lintSql } from '../../../src/db/lint/index.js'
import { ruleDefinitions } from '../../../src/db/lint/rules.js'

describe('lint: the rule registry', () => {
  it('lists each rule once, and its metadata is what lintRules (README, --rules) shows', () => {
    const ids = ruleDefinitions.map((rule) => rule.meta.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(lintRules.map((rule) => rule.id)).toEqual(ids)
  })

  it('gives every rule a check, except those the linter raises about the file itself', () => {
    const without = ruleDefinitions.filter((rule) => Object.keys(rule.check).length === 0)
    expect(without.map((rule) => rule.meta.id).sort()).toEqual([
      'bad-allow-comment',
      'do-block',
      'syntax-error',
    ])
  })

  it('runs a rule’s visitor only on the statements of its kind, each finding under that rule', async () => {
    // Given statements that each trip exactly one rule, by a visitor keyed by their kind
    const sql = [
      'TRUNCATE sessions;', // TruncateStmt → truncate
      'LOCK TABLE orders IN SHARE MODE;', // LockStmt → lock-table
      'ALTER TABLE users DROP COLUMN nickname;', // AlterTableCmd → drop-column
    ].join('\n')
    // When they are linted (each statement alone: no lock carries over)
    const byLine = await Promise.all(
      sql.split('\n').map(async (line) => (await lintSql(line, 'a.sql', 'expand')).map((f) => f.rule)),
    )
    // Then each finding comes from its statement's rule alone
    expect(byLine).toEqual([['truncate'], ['lock-table'], ['drop-column']])
  })
})
