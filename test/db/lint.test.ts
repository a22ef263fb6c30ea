import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  formatFinding,
  lintPaths,
  lintRules,
  lintSql,
  type Finding,
  type MigrationPhase,
} from '../../src/db/lint/index.js'
import { SqlSyntaxError } from '../../src/db/sql-file.js'

const fixtures = join(import.meta.dirname, '../fixtures/sql/lint')

/** Each fixture states the rules it must trip in a header: `-- expect: rule-a, rule-b` or `-- expect: none`. */
function expectedRules(file: string): string[] {
  const match = /^-- expect: (.*)$/m.exec(readFileSync(file, 'utf8'))
  if (!match) throw new Error(`${file} has no "-- expect:" header`)
  return match[1]
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== 'none')
    .sort()
}

function rulesOf(findings: Finding[]): string[] {
  return [...new Set(findings.map((f) => f.rule))].sort()
}

const suites: [string, MigrationPhase][] = [
  ['expand-unsafe', 'expand'],
  ['expand-safe', 'expand'],
  ['contract-unsafe', 'contract'],
  ['contract-safe', 'contract'],
]

describe('lint: fixtures', () => {
  for (const [dir, phase] of suites) {
    describe(`${dir} (--phase ${phase})`, () => {
      for (const name of readdirSync(join(fixtures, dir)).sort()) {
        it(name, async () => {
          // Given a migration file with its expected findings in its header
          const file = join(fixtures, dir, name)
          // When it is linted for its phase
          const findings = await lintSql(readFileSync(file, 'utf8'), file, phase)
          // Then exactly the expected rules fire
          expect(rulesOf(findings), findings.map(formatFinding).join('\n')).toEqual(expectedRules(file))
        })
      }
    })
  }

  it('has an unsafe fixture for every rule', () => {
    const unsafe = new Set(
      ['expand-unsafe', 'contract-unsafe'].flatMap((dir) =>
        readdirSync(join(fixtures, dir)).flatMap((name) => expectedRules(join(fixtures, dir, name))),
      ),
    )
    // (syntax-error's fixtures are the files of ../broken, which lintSql refuses to parse.)
    unsafe.add('syntax-error')
    expect(lintRules.map((r) => r.id).filter((id) => !unsafe.has(id))).toEqual([])
  })
})

describe('lint: directories, where earlier files ran first', () => {
  const dirs = join(fixtures, '../lint-dirs')
  for (const dir of readdirSync(dirs).sort()) {
    it(dir, async () => {
      // Given a directory whose later files rely on what earlier ones established
      const path = join(dirs, dir)
      // When the directory is linted
      const { findings, files } = await lintPaths([path], 'expand')
      // Then each file trips exactly the rules its header expects
      for (const file of files) {
        const own = findings.filter((f) => f.file === file)
        expect(rulesOf(own), `${file}\n${own.map(formatFinding).join('\n')}`).toEqual(expectedRules(file))
      }
    })
  }

  it('makes dropping the default of a NOT NULL column an error, of a nullable one a warning; widenings by their types', async () => {
    // Given the directory whose first file creates status NOT NULL and note nullable, both with defaults
    const { findings } = await lintPaths([join(dirs, 'keys-and-defaults')], 'expand')
    // Then the later file's two DROP DEFAULTs differ in severity
    const drops = findings.filter((f) => f.rule === 'drop-default')
    expect(drops.map((f) => [basename(f.file), f.line, f.severity])).toEqual([
      ['003_drop_defaults.sql', 3, 'error'],
      ['003_drop_defaults.sql', 4, 'warning'],
      // and a column of a two-column primary key is NOT NULL too
      ['005_drop_key_default.sql', 4, 'error'],
    ])
    expect(drops[0].message).toContain('NOT NULL column accounts.status')
    // And of the types 001 of widen-using created, only the widening with a plain cast passes
    const types = await lintPaths([join(dirs, 'widen-using')], 'expand')
    expect(types.findings.map((f) => [f.rule, f.line])).toEqual([
      ['alter-column-type', 4],
      ['alter-column-type', 5],
    ])
  })

  it('does not carry facts from one directory into another', async () => {
    // Given the file that sets NOT NULL, without the directory whose first file validated the check
    const file = join(fixtures, '../lint-dirs/not-null/002_set_not_null.sql')
    // When it is linted alone
    const { findings } = await lintPaths([file], 'expand')
    // Then nothing proves the column NOT NULL
    expect(rulesOf(findings)).toEqual(['set-not-null'])
  })
})

describe('lint: the rule catalogue', () => {
  for (const rule of lintRules) {
    it(`${rule.id}: its unsafe example trips it and its safe example passes`, async () => {
      const phase = rule.phases[0]
      if (rule.id === 'syntax-error') {
        await expect(lintSql(rule.example.unsafe, 'unsafe.sql', phase)).rejects.toBeInstanceOf(SqlSyntaxError)
      } else {
        expect(rulesOf(await lintSql(rule.example.unsafe, 'unsafe.sql', phase))).toContain(rule.id)
      }
      expect(await lintSql(rule.example.safe, 'safe.sql', phase)).toEqual([])
    })
  }

  it('gives every rule a stable kebab-case id, a summary and a hint', () => {
    const ids = lintRules.map((r) => r.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const rule of lintRules) {
      expect(rule.id).toMatch(/^[a-z]+(-[a-z]+)*$/)
      expect(rule.summary.length).toBeGreaterThan(20)
      expect(rule.hint.length).toBeGreaterThan(10)
    }
  })
})

describe('lint: findings', () => {
  it('point at file:line:col of the offending part, after comments and non-ASCII text', async () => {
    // Given a file whose second statement drops a column, behind a multi-byte comment
    const line3 = '  ALTER TABLE users ADD COLUMN a int, ADD COLUMN b uuid DEFAULT gen_random_uuid();'
    const sql = ['-- Übersicht: schéma', 'ALTER TABLE users ADD COLUMN bio text;', line3].join('\n')
    const column = line3.indexOf('b uuid') + 1
    // When it is linted
    const [finding] = await lintSql(sql, 'm/001.sql', 'expand')
    // Then the finding names the column definition's position and says what to do
    expect(finding).toMatchObject({
      rule: 'volatile-default',
      severity: 'error',
      file: 'm/001.sql',
      line: 3,
      column,
    })
    expect(formatFinding(finding)).toMatch(
      /^m\/001\.sql:3:50: error: column users\.b .*gen_random_uuid\(\).* \[volatile-default\]\n {2}hint: add the column without a default/,
    )
  })

  it('point at each command of a multi-line ALTER TABLE', async () => {
    // Given one ALTER TABLE whose commands are on lines of their own
    const sql = [
      'ALTER TABLE orders',
      '  ADD COLUMN note text,',
      '  DROP COLUMN "Legacy",',
      '  ALTER email SET NOT NULL,',
      '  ALTER COLUMN total TYPE bigint;',
    ].join('\n')
    // When it is linted
    const findings = await lintSql(sql, 'x.sql', 'expand')
    // Then each finding is on its command's line
    expect(findings.map((f) => [f.rule, f.line, f.column])).toEqual([
      ['drop-column', 3, 3],
      ['set-not-null', 4, 3],
      ['alter-column-type', 5, 16],
    ])
    expect(findings.map((f) => f.message)).toEqual([
      expect.stringContaining('orders.Legacy'),
      expect.stringContaining('orders.email'),
      expect.stringContaining('orders.total to bigint'),
    ])
  })

  it('reports a syntax error with its file, line and column', async () => {
    // Given a file with a typo on line 3
    const file = join(fixtures, '../broken/syntax-error.sql')
    // When it is linted
    const error = await lintSql(readFileSync(file, 'utf8'), file, 'expand').catch((e: unknown) => e)
    // Then a SQL_PARSE error says where
    expect(error).toBeInstanceOf(SqlSyntaxError)
    expect((error as SqlSyntaxError).code).toBe('SQL_PARSE')
    expect((error as SqlSyntaxError).at).toEqual({ line: 3, column: 44 })
    expect((error as SqlSyntaxError).message).toContain('syntax error at or near "DEFALT"')
  })

  it('lints directories in file-name order and keeps going past a file that does not parse', async () => {
    // Given a directory with unsafe files and a file that does not parse
    const paths = [join(fixtures, 'contract-unsafe'), join(fixtures, '../broken')]
    // When the paths are linted
    const result = await lintPaths(paths, 'contract')
    // Then every file is read, findings come from the good files, and the bad one is a parse error
    expect(result.files.map((f) => f.split('/').at(-1))).toEqual([
      'alter-column-type.sql',
      'create-index.sql',
      'detach-partition.sql',
      'drop-database.sql',
      'drop-index.sql',
      'foreign-key.sql',
      'lock-table-share.sql',
      'set-not-null.sql',
      'volatile-default.sql',
      'syntax-error.sql',
    ])
    expect(result.findings).toHaveLength(9)
    expect(result.parseErrors).toEqual([
      expect.objectContaining({
        rule: 'syntax-error',
        file: expect.stringContaining('syntax-error.sql'),
        line: 3,
        column: 44,
      }),
    ])
  })

  it('applies compatibility rules in expand only, locking rules in both phases', async () => {
    const sql = 'ALTER TABLE users DROP COLUMN nickname;\nCREATE INDEX users_email_idx ON users (email);'
    expect(rulesOf(await lintSql(sql, 'x.sql', 'expand'))).toEqual(['create-index', 'drop-column'])
    expect(rulesOf(await lintSql(sql, 'x.sql', 'contract'))).toEqual(['create-index'])
  })
})
