/**
 * Finding the plan: the argument, --plan, $BLUEGREEN_PLAN, then ./bluegreen.yaml. On-call runs
 * `bluegreen rollback` in the directory holding the plan; when there is none, the error says
 * what was tried and which plan files it sees. On the built CLI, rollback through its fast path.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { repoRoot, runCli } from '../support/cli.js'

const minimal = join(repoRoot, 'test/fixtures/plans/valid/minimal.yaml')
let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})
const run = (args: string[], cwd: string, env: Record<string, string | undefined> = {}) =>
  runCli(args, { cwd, env: { BLUEGREEN_PLAN: undefined, CI: 'true', ...env } })

describe('a command given no plan', () => {
  it('uses ./bluegreen.yaml in the current directory', async () => {
    // Given a directory holding bluegreen.yaml
    dir = mkdtempSync(join(tmpdir(), 'bluegreen-find-'))
    copyFileSync(minimal, join(dir, 'bluegreen.yaml'))
    // When plan show and plan validate run there without a plan
    const show = await run(['plan', 'show'], dir)
    const validate = await run(['plan', 'validate'], dir)
    // Then both read it
    expect(show.code, show.stderr).toBe(0)
    expect(show.stdout).toContain('bluegreen.yaml')
    expect(validate.code, validate.stderr).toBe(0)
    expect(validate.stdout).toContain('✓ bluegreen.yaml: valid (app shop')
  })

  it('prefers $BLUEGREEN_PLAN to ./bluegreen.yaml', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bluegreen-find-'))
    writeFileSync(join(dir, 'bluegreen.yaml'), 'not: a plan\n')
    const validate = await run(['plan', 'validate'], dir, { BLUEGREEN_PLAN: minimal })
    expect(validate.code, validate.stderr).toBe(0)
    expect(validate.stdout).toContain(`✓ ${minimal}: valid`)
  })

  it('says what it tried and lists the plan files it sees, for rollback (fast path) and release', async () => {
    // Given a directory with a plan under another name, and a YAML file that is no plan
    dir = mkdtempSync(join(tmpdir(), 'bluegreen-find-'))
    copyFileSync(minimal, join(dir, 'shop.yaml'))
    writeFileSync(join(dir, 'docker-compose.yml'), 'services: {}\n')
    for (const command of ['rollback', 'release', 'retire', 'contract', 'status']) {
      // When the command runs there without a plan
      const result = await run([command, '--yes'].slice(0, command === 'rollback' ? 2 : 1), dir)
      // Then it is a usage error naming what was tried and the plan file found
      expect(result.code, `${command}: ${result.stderr}`).toBe(2)
      expect(result.stderr).toContain(`${command} needs a plan file`)
      expect(result.stderr).toContain('$BLUEGREEN_PLAN (not set), ./bluegreen.yaml (not found)')
      expect(result.stderr).toContain('plan files here: shop.yaml')
      expect(result.stderr).not.toContain('docker-compose.yml')
    }
  })
})
