/**
 * Issue 15, what the plan loader refuses before anything runs: versions that are not names,
 * database URLs pg cannot use, plans that are not UTF-8, and migration directories the runner
 * could not apply as they are (while symlinked ones, as Kubernetes mounts them, load).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BluegreenError } from '../../src/errors.js'
import { listMigrationFiles } from '../../src/db/migration-files.js'
import { PlanError, type PlanIssue } from '../../src/format/issues.js'
import { loadPlan } from '../../src/plan/load.js'
import { configMap } from '../support/migration-dirs.js'

const roots: string[] = []
afterAll(() => roots.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

/** A directory holding `plan.yaml` (the text given) and an `expand/` migration directory. */
function planDir(plan: string | Buffer, expand: (dir: string) => void = withOneMigration): string {
  const root = mkdtempSync(join(tmpdir(), 'bluegreen-hostile-'))
  roots.push(root)
  mkdirSync(join(root, 'expand'))
  expand(join(root, 'expand'))
  writeFileSync(join(root, 'plan.yaml'), plan)
  return join(root, 'plan.yaml')
}

function withOneMigration(dir: string): void {
  writeFileSync(join(dir, '001_add.sql'), 'ALTER TABLE t ADD COLUMN c text;\n')
}

const planText = (extra = '', expand = '{ dir: expand }') => `app: shop
${extra}database:
  url: \${DATABASE_URL}
loadBalancer: { provider: haproxy, runtimeApi: 127.0.0.1:9999, backend: shop }
pools:
  blue: { servers: [blue1] }
  green: { servers: [green1] }
phases:
  - expand: ${expand}
  - deploy: { run: [./deploy.sh, '{{version}}'] }
`
const env = { DATABASE_URL: 'postgres://app:Pw-hostile-1@db:5432/shop' }

async function failure(file: string, options: Parameters<typeof loadPlan>[1] = { env }): Promise<unknown> {
  return loadPlan(file, options).then(
    () => undefined,
    (error: unknown) => error,
  )
}

async function issuesOf(file: string, options?: Parameters<typeof loadPlan>[1]): Promise<PlanIssue[]> {
  const error = await failure(file, options)
  if (!(error instanceof PlanError)) throw new Error(`expected a PlanError, got ${String(error)}`)
  expect(error.exitCode).toBe(2)
  return error.issues
}

const hostileVersions = [
  '$(id>/tmp/x)',
  '`id`',
  '1.0;touch f',
  '1.0 && rm -rf ~',
  '9.9.9\n✓ 9.9.9 is live',
  "1.0'",
  '1.0"',
  'a'.repeat(10 * 1024),
  '../../etc',
  '1.0|cat',
  '',
]

describe('versions are names, not code', () => {
  it.each(hostileVersions.filter((v) => v !== '').map((v) => [JSON.stringify(v).slice(0, 30), v]))(
    '--version %s is a usage error (exit 2) with the rule in the hint',
    async (_shown, version) => {
      const error = await failure(planDir(planText()), { env, version })
      expect(error).toBeInstanceOf(BluegreenError)
      const { code, exitCode, message, hint } = error as BluegreenError
      expect({ code, exitCode }).toEqual({ code: 'USAGE', exitCode: 2 })
      expect(hint).toContain('letters, digits')
      // The message shows the value escaped and short: it cannot forge a line of output.
      expect(message).not.toContain('\n')
      expect(message.length).toBeLessThan(200)
    },
  )

  it('refuses a plan version that is not a name, at its position, quoted and short', async () => {
    const file = planDir(planText('version: ${VERSION}\n'))
    const issues = await issuesOf(file, { env: { ...env, VERSION: '1.0\n✓ forged' } })
    expect(issues).toHaveLength(1)
    expect(issues[0]).toMatchObject({ path: 'version', line: 2, col: 10 })
    expect(issues[0].message).not.toContain('\n')
    expect(issues[0].hint).toContain('letters, digits')
  })

  it('accepts the names people give versions', async () => {
    for (const version of ['2.4.0', 'v1.2.3-rc.1+build.7', 'a1b2c3d', '2026.05.01_1', 'x'.repeat(128)]) {
      const { plan } = await loadPlan(planDir(planText()), { env, version })
      expect(plan.version).toBe(version)
    }
    await expect(loadPlan(planDir(planText()), { env, version: 'x'.repeat(129) })).rejects.toThrow(
      /not a version name/,
    )
  })
})

describe('a database URL pg cannot use is a plan error at its position', () => {
  it.each([
    ['port out of range', 'postgres://app:Pw-hostile-2@db:99999/shop'],
    ['no URL at all', 'db.example.com:5432/shop'],
    ['another scheme', 'mysql://app:Pw-hostile-2@db/shop'],
  ])('%s', async (_what, url) => {
    const issues = await issuesOf(planDir(planText()), { env: { DATABASE_URL: url } })
    expect(issues).toHaveLength(1)
    expect(issues[0]).toMatchObject({ path: 'database.url', line: 3, col: 8 })
    expect(issues[0].message).toContain('not a PostgreSQL URL')
    expect(JSON.stringify(issues)).not.toContain('Pw-hostile-2')
  })
})

describe('a plan that is not UTF-8', () => {
  it('is a plan error that names the byte offset, line and column', async () => {
    // "café" in Latin-1 on line 2: é is the single byte 0xE9.
    const text = Buffer.concat([Buffer.from('app: shop\n# caf'), Buffer.from([0xe9]), Buffer.from('\n')])
    const issues = await issuesOf(planDir(text))
    expect(issues).toEqual([
      expect.objectContaining({ line: 2, col: 6, message: 'not valid UTF-8: byte 0xe9 at offset 15' }),
    ])
  })
})

describe('migration directories as users have them', () => {
  it('follows symlinked files and a symlinked directory, and keeps their real paths', async () => {
    const file = planDir(planText(), (dir) => {
      const elsewhere = mkdtempSync(join(tmpdir(), 'bluegreen-real-'))
      roots.push(elsewhere)
      writeFileSync(join(elsewhere, '001_add.sql'), 'SELECT 1;\n')
      symlinkSync(join(elsewhere, '001_add.sql'), join(dir, '001_add.sql'))
    })
    await loadPlan(file, { env })
    const [entry] = await listMigrationFiles(join(file, '../expand'))
    expect(entry.file).toBe('001_add.sql')
    expect(entry.realPath).toMatch(/bluegreen-real-.*\/001_add\.sql$/)
  })

  it('reads a Kubernetes ConfigMap mount: ..data -> ..<timestamp>/, each x.sql -> ..data/x.sql', async () => {
    const file = planDir(planText(), (dir) =>
      configMap(dir, { '001_add.sql': 'SELECT 1;\n', '002_more.sql': 'SELECT 2;\n' }),
    )
    await loadPlan(file, { env })
    const entries = await listMigrationFiles(join(file, '../expand'))
    expect(entries.map((e) => e.file)).toEqual(['001_add.sql', '002_more.sql'])
    expect(entries[0].realPath).toMatch(/\/expand\/\.\.2026_05_01_10_00_00\.123456789\/001_add\.sql$/)
  })

  it.each([
    ['a directory named like a migration', (dir: string) => mkdirSync(join(dir, '001_x.sql'))],
    ['a dangling symlink', (dir: string) => symlinkSync(join(dir, 'gone.sql.txt'), join(dir, '001_x.sql'))],
  ])('refuses %s, naming it', async (_what, make) => {
    const file = planDir(planText(), (dir) => {
      withOneMigration(dir)
      make(dir)
    })
    const issues = await issuesOf(file)
    expect(issues).toHaveLength(1)
    expect(issues[0].path).toBe('phases[0].expand.dir')
    expect(issues[0].message).toContain(join(file, '../expand/001_x.sql'))
  })

  it('refuses a directory without .sql files unless the phase says allowEmpty: true', async () => {
    const empty = () => {}
    const issues = await issuesOf(planDir(planText(), empty))
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'phases[0].expand.dir',
        message: expect.stringContaining('no .sql file'),
      }),
    ])
    expect(issues[0].hint).toContain('allowEmpty: true')
    await loadPlan(planDir(planText('', '{ dir: expand, allowEmpty: true }'), empty), { env })
  })
})
