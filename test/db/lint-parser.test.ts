/**
 * The linter calls libpg-query's WASM module directly (src/db/sql-file.ts), not through the
 * package's wrapper, and counts positions inside a statement from its text. Both are speed
 * changes that must change nothing: these tests compare them, over every SQL fixture and the
 * inputs bench/lint.ts builds from them, with the wrapper's parse and with positions counted
 * independently in the whole file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseSync, loadModule } from 'libpg-query'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadSqlParser, parseSqlFile, SqlParseError, type SqlParser } from '../../src/db/sql-file.js'

const fixtures = join(import.meta.dirname, '../fixtures/sql')

function sqlFilesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name)
      return statSync(path).isDirectory() ? sqlFilesUnder(path) : name.endsWith('.sql') ? [path] : []
    })
}

const files = sqlFilesUnder(fixtures)

/** Texts that reach the parser's edges: multi-byte text before an error, blanks, odd comments. */
const edgeCases = [
  '',
  '  \n\t',
  '-- only a comment\n',
  'SELECT 1',
  "ALTER TABLE café ADD COLUMN naïve text NOT NULL; SELEC 'ü';",
  "COMMENT ON TABLE t IS '日本語 😀';\nALTER TABLE t DROP COLUMN 😀x;",
  "CREATE TABLE t (a int);\n/* nested /* comment */ still */ ALTER TABLE t ADD COLUMN b text DEFAULT E'\\n';",
  'DO $$ BEGIN RAISE NOTICE $q$;$q$; END $$;',
  'ALTER TABLE "Ünïcode"."Tåble" ADD COLUMN "x y" int',
  'SELECT (',
  "SELECT 'unterminated",
]

/** Everything the parser was given in the bench: every fixture, and all of them as one file. */
const texts: [string, string][] = [
  ...files.map((file): [string, string] => [file.slice(fixtures.length + 1), readFileSync(file, 'utf8')]),
  ...edgeCases.map((sql, i): [string, string] => [
    `edge case ${i}: ${JSON.stringify(sql.slice(0, 40))}`,
    sql,
  ]),
  // bench/lint.ts's file of 10,000 statements is these, over and over.
  [
    'all lint fixtures in one file',
    files
      .filter((file) => file.includes('/lint/'))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n'),
  ],
]

/** What libpg-query's own wrapper makes of a text: the tree, or the error and its position. */
function viaWrapper(sql: string): unknown {
  try {
    return { tree: parseSync(sql) as unknown }
  } catch (error) {
    const details = (error as { sqlDetails?: { cursorPosition: number } }).sqlDetails
    return { error: (error as Error).message, at: details?.cursorPosition ?? 0 }
  }
}

function direct(parse: SqlParser, sql: string): unknown {
  try {
    // parseSqlFile refuses a blank text before calling the parser, as the wrapper does.
    if (sql.trim() === '') throw new SqlParseError('Query cannot be empty', 0)
    return { tree: parse(Buffer.from(sql, 'utf8')) as unknown }
  } catch (error) {
    if (!(error instanceof SqlParseError)) throw error
    return { error: error.message, at: error.cursorPosition }
  }
}

await loadModule()
const parsable = texts.filter(([, sql]) => !('error' in (viaWrapper(sql) as object)))

describe('lint: the parser, called directly', () => {
  let parse: SqlParser
  beforeAll(async () => {
    parse = await loadSqlParser()
  })

  it('has the fixtures to compare (every lint fixture and the runner’s migrations)', () => {
    expect(files.length).toBeGreaterThan(140)
    expect(files.some((file) => file.includes('broken'))).toBe(true)
    expect(parsable.length).toBeGreaterThan(140)
    expect(parsable.map(([name]) => name)).toContain('all lint fixtures in one file')
  })

  it.each(texts)('gives the same tree or the same error as libpg-query’s wrapper: %s', (_name, sql) => {
    // Given a text the linter or the runner may parse
    // When our binding and the package's wrapper both parse it
    // Then they agree: the same tree, or the same message at the same character
    expect(direct(parse, sql)).toEqual(viaWrapper(sql))
  })

  it.each(texts)(
    'places every character of a statement where the whole file has it: %s',
    async (_name, sql) => {
      // Given a file that parses
      const parsed = await parseSqlFile(sql, 'x.sql').catch(() => undefined)
      if (!parsed) return
      // Every character's line and column, counted once over the whole file
      const lineAt: number[] = []
      const columnAt: number[] = []
      for (let i = 0, line = 1, column = 1; i <= sql.length; i++) {
        lineAt.push(line)
        columnAt.push(column)
        if (sql[i] === '\n') [line, column] = [line + 1, 1]
        else column++
      }
      const lineStarts = [0, ...[...sql.matchAll(/\n/g)].map((m) => m.index + 1)]
      for (const statement of parsed.statements) {
        // The statement's text is in the file, where its start says
        const fileIndex = lineStarts[statement.start.line - 1] + statement.start.column - 1
        expect(sql.slice(fileIndex, fileIndex + statement.text.length)).toBe(statement.text)
        // When a position inside it is asked for (every character, and one past the end)
        for (let i = 0; i <= statement.text.length; i++) {
          // Then it is the line and column counted in the whole file
          expect(statement.positionInText(i), `${statement.text.slice(0, 30)}… at ${i}`).toEqual({
            line: lineAt[fileIndex + i],
            column: columnAt[fileIndex + i],
          })
        }
        expect(statement.positionInText(statement.text.length + 5)).toEqual(statement.end)
      }
    },
  )
})

describe('lint: comments directly above a statement', () => {
  it('are those alone on their line, after blanks, not those after code or a block comment', async () => {
    // Given line comments after tabs, after code, and after a block comment with non-ASCII text
    const sql = [
      'SELECT 1; -- after code',
      '\t -- after a tab',
      '  -- after spaces',
      'SELECT 2;',
      '/* café */ -- after a block comment',
      'SELECT 3;',
    ].join('\n')
    // When the statements are read
    const parsed = await parseSqlFile(sql, 'c.sql')
    // Then only the comments alone on their lines are above a statement
    expect(parsed.statements.map((s) => s.commentsAbove.map((c) => c.text))).toEqual([
      [],
      ['after a tab', 'after spaces'],
      [],
    ])
  })
})
