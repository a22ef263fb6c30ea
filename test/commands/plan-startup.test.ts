import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { packagesLoaded, runCli } from '../support/cli.js'

const heavy = ['@aws-sdk', 'pg', 'listr2', 'undici', 'libpg-query'] as const

describe('start-up stays light', () => {
  it('loads none of the heavy packages for --help', async () => {
    const { code, modules } = await runCli(['--help'], { traceModules: true })
    expect(code).toBe(0)
    expect(packagesLoaded(modules, ['@oclif/core'])).toEqual(['@oclif/core'])
    expect(packagesLoaded(modules, heavy)).toEqual([])
    // Not even the plan parser: help needs no plan.
    expect(packagesLoaded(modules, ['yaml', 'zod'])).toEqual([])
  })

  it('loads none of the heavy packages for plan validate', async () => {
    const { code, modules } = await runCli(['plan', 'validate', 'plans/demo.yaml'], {
      traceModules: true,
      env: { DATABASE_URL: undefined, BLUEGREEN_ALB_ENDPOINT: undefined, BLUEGREEN_DEMO_URL: undefined },
    })
    expect(code).toBe(0)
    expect(packagesLoaded(modules, ['yaml', 'zod'])).toEqual(['yaml', 'zod'])
    expect(packagesLoaded(modules, heavy)).toEqual([])
  })

  it('runs rollback without loading oclif, and its help through oclif', async () => {
    const run = await runCli(['rollback', 'no-such-plan.yaml', '--yes'], { traceModules: true })
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('PLAN_NOT_FOUND')
    expect(packagesLoaded(run.modules, ['@oclif/core'])).toEqual([])

    const help = await runCli(['rollback', '--help'], { traceModules: true })
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--force')
    expect(packagesLoaded(help.modules, ['@oclif/core'])).toEqual(['@oclif/core'])
  })

  it('runs lint without loading oclif; a value outside a flag’s list goes to oclif, which names the list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bluegreen-lint-fast-'))
    try {
      writeFileSync(join(dir, 'ok.sql'), 'ALTER TABLE profiles ADD COLUMN nickname text;\n')
      writeFileSync(join(dir, 'bad.sql'), 'ALTER TABLE profiles DROP COLUMN name;\n')
      const ok = await runCli(['lint', join(dir, 'ok.sql'), '--json'], { traceModules: true })
      expect(ok.code).toBe(0)
      expect(packagesLoaded(ok.modules, ['@oclif/core'])).toEqual([])
      const bad = await runCli(['lint', join(dir, 'bad.sql'), join(dir, 'ok.sql')], { traceModules: true })
      expect(bad.code).not.toBe(0)
      expect(bad.stdout + bad.stderr).toContain('bad.sql')
      expect(packagesLoaded(bad.modules, ['@oclif/core'])).toEqual([])

      const wrong = await runCli(['lint', join(dir, 'ok.sql'), '--phase', 'sideways'], { traceModules: true })
      expect(wrong.code).toBe(2)
      expect(wrong.stderr).toContain('expand')
      expect(packagesLoaded(wrong.modules, ['@oclif/core'])).toEqual(['@oclif/core'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
