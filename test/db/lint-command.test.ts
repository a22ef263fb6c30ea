import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
      `${file}:3:13: error: renaming column users.name to full_name breaks the running version, which uses the old name [rename-column]`,
      expect.stringMatching(/^ {2}hint: add a new column, backfill it/),
      `${file}:4:55: error: changing the type of orders.total to bigint rewrites the table under an ACCESS EXCLUSIVE lock [alter-column-type]`,
      expect.stringMatching(/^ {2}hint: add a column of the new type/),
      `${file}:4:74: error: dropping column orders.legacy breaks the running version, which may still use it [drop-column]`,
      expect.stringMatching(/^ {2}hint: stop using the column/),
      `${file}:5:17: error: CREATE INDEX on orders without CONCURRENTLY blocks writes to the table while it builds [create-index]`,
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
    expect(unsafe.stdout).toMatch(/create-index\.sql:3:35: error: .* \[create-index\]/)
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
      'test/fixtures/sql/broken/syntax-error.sql:3:44: error: syntax error at or near "DEFALT" [syntax-error]',
    )
    expect(stdout).toMatch(/truncate\.sql:2:16: error: .* \[truncate\]/)
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
      errors: 1,
      warnings: 0,
      findings: [
        expect.objectContaining({
          rule: 'add-foreign-key',
          severity: 'error',
          file,
          line: 2,
          column: 24,
          end: { line: 2, column: 93 },
          docs: 'README.md#lint-rule-add-foreign-key',
          hint: expect.stringMatching(/^ADD CONSTRAINT \.\.\. FOREIGN KEY \.\.\. NOT VALID/),
        }),
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

  it('prints gcc lines, GitHub annotations (by itself under GITHUB_ACTIONS), SARIF and GitLab Code Quality', async () => {
    const file = `${fixtures}/expand-unsafe/lock-then-update.sql`
    // gcc: one line per finding, as editors' problem matchers read it
    const gcc = await runCli(['lint', file, '--format', 'gcc'])
    expect(gcc.stdout).toBe(
      `${file}:4:1: error: UPDATE users runs in the same transaction as ALTER TABLE users, whose lock blocks the application until the whole file commits [long-statement-under-lock]\n`,
    )
    // GitHub: workflow commands, chosen by GITHUB_ACTIONS=true alone
    const github = await runCli(['lint', file], { env: { GITHUB_ACTIONS: 'true' } })
    expect(github.stdout).toMatch(
      new RegExp(
        `^::error file=${file},line=4,col=1,endLine=4,endColumn=50,title=bluegreen lint%3A long-statement-under-lock::UPDATE users .*%0Ahint: put the long statement`,
      ),
    )
    // SARIF 2.1.0: rules with their documentation, results with regions
    const sarif = JSON.parse((await runCli(['lint', file, '--format', 'sarif'])).stdout) as {
      version: string
      runs: { tool: { driver: { rules: { id: string; helpUri: string }[] } }; results: unknown[] }[]
    }
    expect(sarif.version).toBe('2.1.0')
    expect(sarif.runs[0].tool.driver.rules).toContainEqual(
      expect.objectContaining({
        id: 'long-statement-under-lock',
        helpUri: 'README.md#lint-rule-long-statement-under-lock',
      }),
    )
    expect(sarif.runs[0].results).toEqual([
      expect.objectContaining({
        ruleId: 'long-statement-under-lock',
        level: 'error',
        locations: [
          {
            physicalLocation: {
              artifactLocation: { uri: file },
              region: { startLine: 4, startColumn: 1, endLine: 4, endColumn: 50 },
            },
          },
        ],
      }),
    ])
    // GitLab Code Quality: an array of issues with a stable fingerprint
    const gitlab = JSON.parse((await runCli(['lint', file, '--format', 'gitlab'])).stdout) as unknown[]
    expect(gitlab).toEqual([
      expect.objectContaining({
        check_name: 'long-statement-under-lock',
        severity: 'major',
        fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
        location: { path: file, lines: { begin: 4, end: 4 } },
      }),
    ])
  })

  it('reads - from standard input, ORM output wrapped in BEGIN/COMMIT as it is', async () => {
    const django =
      'BEGIN;\n--\n-- Alter field username on user\n--\nALTER TABLE "auth_user" ALTER COLUMN "username" TYPE varchar(150);\nCOMMIT;\n'
    // Given Django's sqlmigrate output on stdin, as it is: the wrapper is the file's transaction
    const piped = await runCli(['lint', '-'], { input: django })
    // Then the widening inside passes
    expect(piped.stderr.trim()).toBe('✓ 1 file safe for expand')
    expect(piped.code).toBe(0)
    // And --strip-transaction, which scripts written before pass, changes nothing
    const stripped = await runCli(['lint', '-', '--strip-transaction'], { input: django })
    expect(stripped.stderr.trim()).toBe('✓ 1 file safe for expand')
    expect(stripped.code).toBe(0)
    // But what the wrapper holds is linted: a rename inside it is found, where it is
    const rename = django.replace(
      'ALTER COLUMN "username" TYPE varchar(150)',
      'RENAME COLUMN "username" TO "login"',
    )
    const found = await runCli(['lint', '-', '--format', 'gcc'], { input: rename })
    expect(found.stdout).toMatch(/^stdin:5:\d+: error: .*\[rename-column\]$/m)
    expect(found.code).toBe(1)
    // And a wrapper around what cannot run in a transaction is refused, with the way out
    const concurrently = 'BEGIN;\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCOMMIT;\n'
    const refused = await runCli(['lint', '-'], { input: concurrently })
    expect(refused.stdout).toMatch(/^stdin:1:1: error: BEGIN inside a migration.*\[transaction-control\]$/m)
    expect(refused.stdout).toMatch(/hint: remove them/)
    expect(refused.code).toBe(1)
  })

  it('is a usage error to name an empty path or a directory without .sql files', async () => {
    const empty = await runCli(['lint', ''])
    expect(empty.stderr).toContain('Error [USAGE]: an empty path was given')
    expect(empty.code).toBe(2)
    const dir = mkdtempSync(join(tmpdir(), 'bluegreen-lint-empty-'))
    try {
      const noSql = await runCli(['lint', dir])
      expect(noSql.stderr).toContain(`Error [USAGE]: no .sql files in ${dir}`)
      expect(noSql.code).toBe(2)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('takes rule levels from a config file, per directory, and lets warnings pass with --max-warnings', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bluegreen-lint-'))
    try {
      // Given a project whose config turns json-column off, and makes drop-table a warning under legacy/
      mkdirSync(join(root, 'migrations/legacy'), { recursive: true })
      writeFileSync(
        join(root, '.bluegreen-lint.yaml'),
        'rules:\n  json-column: off\ndirectories:\n  migrations/legacy:\n    drop-table: warning\n',
      )
      writeFileSync(
        join(root, 'migrations/001_settings.sql'),
        'ALTER TABLE users ADD COLUMN settings json;\n',
      )
      writeFileSync(join(root, 'migrations/legacy/001_drop.sql'), 'DROP TABLE old_orders;\n')
      writeFileSync(join(root, 'migrations/002_drop.sql'), 'DROP TABLE old_carts;\n')
      const cli = (...args: string[]) => runCli(['lint', ...args, '--format', 'gcc'], { cwd: root })

      // When the directories are linted from the project
      const all = await cli('migrations')
      // Then json-column is off, drop-table is a warning under legacy/ and an error elsewhere
      expect(all.stdout.trim().split('\n')).toEqual([
        expect.stringMatching(/^migrations\/002_drop\.sql:1:1: error: .*\[drop-table\]$/),
        expect.stringMatching(/^migrations\/legacy\/001_drop\.sql:1:1: warning: .*\[drop-table\]$/),
      ])
      expect(all.code).toBe(1)
      // And the warning alone fails without --max-warnings, and passes with --max-warnings 1
      expect((await cli('migrations/legacy')).code).toBe(1)
      expect((await cli('migrations/legacy', '--max-warnings', '1')).code).toBe(0)
      // And a plan's lint: section is read the same way with --config
      writeFileSync(join(root, 'plan.yaml'), 'app: shop\nphases: []\nlint:\n  rules:\n    drop-table: off\n')
      expect((await cli('migrations/002_drop.sql', '--config', 'plan.yaml')).code).toBe(0)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})
