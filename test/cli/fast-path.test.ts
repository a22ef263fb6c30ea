/**
 * The rollback fast path parses argv from the oclif manifest the build writes, and must read a
 * command line exactly as oclif would — or hand it to oclif. These run against the real
 * manifest entry for rollback, so a flag added to the command is covered without editing here.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { fastRunners, parseInvocation, runFast, wouldRunFast } from '../../src/cli/fast-path.js'
import { ensureBuilt, repoRoot } from '../support/cli.js'

type Command = Parameters<typeof parseInvocation>[0]

function manifestCommand(id: string): Command {
  ensureBuilt()
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'oclif.manifest.json'), 'utf8')) as {
    commands: Record<string, Command>
  }
  return manifest.commands[id]
}

const rollbackCommand = () => manifestCommand('rollback')

const saved = { ...process.env }
afterEach(() => {
  for (const name of ['BLUEGREEN_PLAN', 'BLUEGREEN_YES', 'BLUEGREEN_JSON']) {
    if (saved[name] === undefined) delete process.env[name]
    else process.env[name] = saved[name]
  }
})

describe('rollback fast path: argv', () => {
  it('reads the plan from the argument or --plan, and the boolean flags', () => {
    const command = rollbackCommand()
    expect(parseInvocation(command, ['plans/shop.yaml', '--yes'])).toMatchObject({
      args: { plan: 'plans/shop.yaml' },
      flags: { yes: true, force: false, json: false, plan: undefined },
    })
    expect(parseInvocation(command, ['--plan=plans/a.yaml', '--force', '--json'])).toMatchObject({
      args: { plan: undefined },
      flags: { plan: 'plans/a.yaml', force: true, json: true, yes: false },
    })
    expect(parseInvocation(command, ['--plan', 'plans/b.yaml'])?.flags.plan).toBe('plans/b.yaml')
  })

  it('fills unset flags from their environment variables, with oclif’s truthy words', () => {
    const command = rollbackCommand()
    process.env.BLUEGREEN_PLAN = 'plans/env.yaml'
    process.env.BLUEGREEN_JSON = 'YES'
    process.env.BLUEGREEN_YES = '0'
    expect(parseInvocation(command, [])?.flags).toMatchObject({
      plan: 'plans/env.yaml',
      json: true,
      yes: false,
    })
    // A flag on the command line wins over its variable.
    expect(parseInvocation(command, ['--plan', 'plans/cli.yaml'])?.flags.plan).toBe('plans/cli.yaml')
    process.env.BLUEGREEN_YES = 'true'
    expect(parseInvocation(command, [])?.flags.yes).toBe(true)
  })

  it('leaves to oclif whatever it would read differently or report', () => {
    const command = rollbackCommand()
    for (const argv of [
      ['--help'],
      ['-h'],
      ['--bogus'],
      ['plans/a.yaml', 'plans/b.yaml'],
      ['--plan', 'a.yaml', '--plan', 'b.yaml'],
      ['--yes=true'],
      ['--plan'],
    ]) {
      expect(parseInvocation(command, argv), argv.join(' ')).toBeUndefined()
    }
  })
})

describe('release fast path: argv', () => {
  it('reads its options and booleans as oclif does', () => {
    const command = manifestCommand('release')
    expect(
      parseInvocation(command, [
        'plans/shop.yaml',
        '--version',
        '2.4.0',
        '--yes',
        '--dry-run',
        '--wait-lock=5m',
      ]),
    ).toMatchObject({
      args: { plan: 'plans/shop.yaml' },
      flags: { version: '2.4.0', yes: true, 'dry-run': true, resume: false, 'wait-lock': '5m', json: false },
    })
    expect(parseInvocation(command, ['--plan', 'a.yaml', '--resume', '--force'])?.flags).toMatchObject({
      plan: 'a.yaml',
      resume: true,
      force: true,
      approve: false,
    })
  })

  it('leaves a flag that depends on another to oclif, which checks the pair', () => {
    const command = manifestCommand('release')
    expect(command.flags.approve).toMatchObject({ dependsOn: ['resume'] })
    expect(parseInvocation(command, ['plans/shop.yaml', '--approve'])).toBeUndefined()
    expect(parseInvocation(command, ['plans/shop.yaml', '--resume', '--approve'])).toBeUndefined()
    expect(wouldRunFast(['release', 'plans/shop.yaml', '--approve'])).toBe(false)
    // Through oclif, which counts --resume's default as given: the release says what is wrong (exit 2).
    const run = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin/run.js'), 'release', 'plans/shop.yaml', '--approve'],
      {
        encoding: 'utf8',
      },
    )
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('--approve approves the step a paused release waits at; it needs --resume')
    expect(run.stderr).toContain('bluegreen release plans/shop.yaml --resume --approve')
  })
})

describe('rollback fast path: when it steps aside', () => {
  it('runs nothing for other commands, or without a manifest (a development checkout)', async () => {
    expect(await runFast(['history', 'plans/demo.yaml'])).toBe(false)
    expect(await runFast([])).toBe(false)
    const missing = new URL('file:///nonexistent/oclif.manifest.json')
    expect(await runFast(['rollback', 'plans/demo.yaml', '--yes'], missing)).toBe(false)
  })
})

describe('wouldRunFast: whether bin/run.js loads the fast path at all', () => {
  it('says yes for what runFast runs, and no for what it leaves to oclif', () => {
    ensureBuilt()
    expect(wouldRunFast(['rollback', 'plans/demo.yaml', '--yes'])).toBe(true)
    expect(wouldRunFast(['status', 'plans/demo.yaml'])).toBe(true)
    expect(wouldRunFast(['lint', 'a.sql', 'b.sql'])).toBe(true)
    expect(wouldRunFast(['release', 'plans/demo.yaml', '--version', '2.0.0'])).toBe(true)
    expect(wouldRunFast(['release', '--help'])).toBe(false)
    expect(wouldRunFast(['rollback', '--help'])).toBe(false)
    expect(wouldRunFast(['status', '--bogus'])).toBe(false)
    expect(wouldRunFast(['history', 'plans/demo.yaml'])).toBe(false)
    expect(wouldRunFast([])).toBe(false)
  })
})

describe('bin/run.js without a build', () => {
  it('says to build instead of failing with a module-not-found stack', () => {
    const root = mkdtempSync(join(tmpdir(), 'bluegreen-unbuilt-'))
    try {
      mkdirSync(join(root, 'bin'))
      copyFileSync(join(repoRoot, 'bin/run.js'), join(root, 'bin/run.js'))
      const run = spawnSync(process.execPath, [join(root, 'bin/run.js'), 'rollback', 'plans/demo.yaml'], {
        encoding: 'utf8',
      })
      expect(run.status).toBe(70)
      expect(run.stderr).toContain('bluegreen is not built (no dist/): run `npm install`')
      expect(run.stderr).not.toContain('ERR_MODULE_NOT_FOUND')
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})

describe('the per-command CommonJS bundles', () => {
  it('has one for every fast command, holding its own runner and not the others’ dependencies', () => {
    ensureBuilt()
    for (const command of Object.keys(fastRunners)) {
      // bin/run.js loads dist/cli/fast-path-<command>.cjs for a command wouldRunFast accepts.
      const bundle = readFileSync(join(repoRoot, `dist/cli/fast-path-${command}.cjs`), 'utf8')
      expect(bundle, command).toContain(`${command}Runner`)
      for (const other of Object.keys(fastRunners).filter((c) => c !== command))
        expect(bundle, `${command} bundle`).not.toContain(`function ${other}Runner(`)
    }
    // The linter starts without the AWS SDK or pg compiled in.
    const lint = readFileSync(join(repoRoot, 'dist/cli/fast-path-lint.cjs'), 'utf8')
    expect(lint).not.toMatch(/ElasticLoadBalancingV2Client|pg-protocol/)
  })
})
