/**
 * Drill (issue 15): secrets stay hidden everywhere. Every secret form is planted in a plan, its
 * environment and a deploy's output; then release (success and failure), rollback, status,
 * history, plan show, --dry-run and an unexpected error (exit 70) run in every output mode —
 * plain, --json, and listr2 through a real pseudo-terminal (`script`) — on the real PostgreSQL
 * journal, the state-file journal and an offline rollback's spool. No planted secret may appear
 * in any output, journal table, spool or state file.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { shellQuote } from '../../src/phases/shell-quote.js'
import { ensureBuilt } from '../support/cli.js'
import { bluegreen, dbPassword, repoRoot, sql, startE2eStack, type E2eStack } from '../support/e2e.js'
import { freePort } from '../support/process.js'
import { havePostgres } from '../support/postgres.js'

const plan = join(repoRoot, 'test/fixtures/drills/secrets-plan.yaml')
/**
 * The unexpected error (exit 70): loaded with `node --import`, it makes os.hostname(), which a
 * release calls for its lock holder, throw a plain TypeError whose message (and so its stack)
 * quotes secrets, as a bug in a dependency might.
 */
const bugPreloadSource = `import { createRequire, syncBuiltinESMExports } from 'node:module'
const os = createRequire(import.meta.url)('node:os')
os.hostname = () => {
  throw new TypeError('drill bug: cannot use ' + process.env.DATABASE_URL + ' with token ' + process.env.SHOP_API_TOKEN)
}
syncBuiltinESMExports()
`

/** Every planted secret, by where it was planted. */
const planted = {
  databasePassword: dbPassword,
  verifyPassword: 'VerifyPw-5150',
  verifyToken: 'VerifyTok-6160',
  argvToken: 'ArgvTok-7170',
  argvPassword: 'ArgvPw-8180',
  smokeBearer: 'SmokeTok-9190abc',
  smokeCookie: 'SmokeCookie-4041',
  planLibpq: 'PlanLibpq-3233',
  planApiKey: 'PlanKey-3435',
  planToken: 'PlanTok-3637',
  planSig: 'PlanSig-3839',
  envToken: 'EnvTok-1011-zz',
  envSecret: 'EnvSecret-1213',
  envPassword: 'EnvPw-1415-zz',
  poolToken: 'PoolTok-4243',
  awsSessionToken: 'SessTok-1617-IQoJb3JpZ2lu',
  outputUrlPassword: 'OutPw-1819',
  outputLibpq: 'LibpqPw-2021',
  outputApiKey: 'OutKey-2223',
  outputSignature: 'OutSig-2425',
  outputBearer: 'OutBearer-2627',
  outputCookie: 'OutCookie-2829',
  outputArg: 'OutArg-3031',
}

function leaks(text: string): string[] {
  return Object.entries(planted)
    .filter(([, secret]) => text.includes(secret))
    .map(([where]) => where)
}

interface Run {
  label: string
  code: number | null
  output: string
}

/** The built CLI on a real pseudo-terminal: `script` gives it a tty, so it draws listr2's tree. */
function onTerminal(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  ensureBuilt()
  // A pty made by `script` without a terminal around it is 0 columns wide: set a real size.
  const command = `stty cols 200 rows 60; exec ${[process.execPath, join(repoRoot, 'bin/run.js'), ...args].map(shellQuote).join(' ')}`
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, TERM: 'xterm-256color', COLUMNS: '160' }
  delete childEnv.CI
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: childEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stdin.end()
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      // Without colours and cursor moves, a secret cannot hide between two escape sequences.
      resolve({ label: `tty ${args.join(' ')}`, code, output: stripAnsi(output) })
    })
  })
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b\][^\u0007]*\u0007|\r/g, '')
}

async function plainOrJson(args: string[], env: Record<string, string>, label: string): Promise<Run> {
  const result = await bluegreen(args, env, { timeoutMs: 90_000 })
  return { label, code: result.code, output: result.stdout + result.stderr }
}

let stack: E2eStack | undefined
let work: string | undefined
afterAll(async () => {
  await stack?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

describe.runIf(havePostgres())('drill: secrets stay hidden everywhere', () => {
  const runs: Run[] = []
  let env: Record<string, string>

  beforeAll(async () => {
    stack = await startE2eStack({ profiles: 50 })
    work = mkdtempSync(join(tmpdir(), 'bluegreen-secrets-'))
    const production = new URL(stack.cliEnv.BLUEGREEN_DEMO_URL)
    env = {
      ...stack.cliEnv,
      VERIFY_URL: `http://monitor:${planted.verifyPassword}@${production.host}/version?token=${planted.verifyToken}`,
      SHOP_API_TOKEN: planted.envToken,
      DEPLOY_SECRET: planted.envSecret,
      SHOP_DB_PASSWORD: planted.envPassword,
      POOL_TOKEN: planted.poolToken,
      AWS_SESSION_TOKEN: planted.awsSessionToken,
    }
  })

  it('shows none in any output mode, for every command, in success, failure and a bug', async () => {
    const modes = ['plain', 'json', 'tty'] as const
    for (const mode of modes) {
      const version = `2.0.${modes.indexOf(mode) + 1}`
      const run = async (args: string[], extra: Record<string, string> = {}): Promise<Run> => {
        const all = mode === 'json' ? [...args, '--json'] : args
        const label = `${mode} ${all.join(' ')}`
        const result =
          mode === 'tty'
            ? await onTerminal(all, { ...env, ...extra })
            : await plainOrJson(all, { ...env, ...extra }, label)
        runs.push({ ...result, label })
        return result
      }
      expect((await run(['plan', 'show', plan, '--version', version])).code).toBe(0)
      expect((await run(['release', plan, '--version', version, '--dry-run'])).code).toBe(0)
      const released = await run(['release', plan, '--version', version, '--yes'])
      expect(released.code, released.output).toBe(0)
      expect((await run(['status', '--plan', plan])).code).toBe(0)
      expect((await run(['history', '--plan', plan])).code).toBe(0)
      expect((await run(['rollback', '--plan', plan, '--yes'])).code).toBe(0)
      const failed = await run(['release', plan, '--version', `${version}-bad`, '--yes'], {
        DRILL_DEPLOY_FAIL: '1',
      })
      expect(failed.code, failed.output).toBe(1)
      expect(failed.output).toContain('DEPLOY_FAILED')
      const bugPreload = join(work!, 'bug-preload.mjs')
      writeFileSync(bugPreload, bugPreloadSource)
      const bug = await run(['release', plan, '--version', `${version}-bug`, '--yes'], {
        NODE_OPTIONS: `--import ${pathToFileURL(bugPreload).href}`,
      })
      expect(bug.code, bug.output).toBe(70)
      expect(bug.output).toContain('drill bug')
    }
    // A failure after the switch: verify fails, its message (with the verify URL) becomes the
    // automatic rollback's reason and the release's error in the journal. The rollback's own
    // confirmation reads the same dead URL, so it ends as "needs a human" (exit 5).
    const verifyFails = await plainOrJson(
      ['release', plan, '--version', '2.1.0', '--yes'],
      { ...env, VERIFY_URL: env.VERIFY_URL.replace(/@[^/]+\//, `@127.0.0.1:${await freePort()}/`) },
      'plain release, verify fails',
    )
    runs.push(verifyFails)
    expect(verifyFails.code, verifyFails.output).toBe(5)
    expect(verifyFails.output).toContain('automatic rollback')
    // The drill saw what it plants: the deploy's output and the masks are in the outputs.
    const all = runs.map((r) => r.output).join('\n')
    expect(all).toContain('deploy-output-marker')
    expect(all).toContain('monitor:***@')
    const tty = runs.filter((r) => r.label.startsWith('tty release') && r.label.includes('--yes'))
    expect(
      tty.some((r) => /[✔✓]\s+deploy/.test(r.output)),
      'listr2 drew its task tree',
    ).toBe(true)

    for (const r of runs) expect(leaks(r.output), `${r.label}:\n${r.output}`).toEqual([])
  })

  it('keeps none in the journal tables, the spool or the state file', async () => {
    // An offline rollback (the database refuses connections) writes the spool.
    const closed = new URL(stack!.databaseUrl)
    closed.port = String(await freePort())
    // (--force: the last rollback left production on the known-good pool, so a plain one would
    // change nothing and write nothing.)
    const offline = await plainOrJson(
      ['rollback', '--plan', plan, '--yes', '--force'],
      { ...env, DATABASE_URL: closed.toString() },
      'offline rollback',
    )
    expect(offline.output).toContain('continuing without the journal')
    expect(leaks(offline.output)).toEqual([])
    const spoolDir = env.BLUEGREEN_STATE_DIR
    const spooled = readdirSync(spoolDir).map((f) => readFileSync(join(spoolDir, f), 'utf8'))
    expect(spooled.join('')).toContain('"kind":"rollback.intent"')
    expect(leaks(spooled.join('\n'))).toEqual([])

    // A plan without a database keeps its journal in a state file: release, fail and roll back.
    const filePlan = join(work!, 'file-plan.yaml')
    writeFileSync(
      filePlan,
      readFileSync(plan, 'utf8')
        .replace(/^database:\n(?: {2}.*\n)+/m, `state: { file: ${join(work!, 'shop.state.json')} }\n`)
        .replace(/ {2}- expand:.*\n/, '')
        .replace('./secrets-deploy.sh', join(repoRoot, 'test/fixtures/drills/secrets-deploy.sh')),
    )
    const fileRuns = [
      await plainOrJson(['release', filePlan, '--version', '3.0.0', '--yes'], env, 'file release'),
      await plainOrJson(['rollback', '--plan', filePlan, '--yes'], env, 'file rollback'),
      await plainOrJson(
        ['release', filePlan, '--version', '3.0.1', '--yes'],
        { ...env, DRILL_DEPLOY_FAIL: '1' },
        'file fail',
      ),
    ]
    expect(fileRuns.map((r) => r.code)).toEqual([0, 0, 1])
    for (const r of fileRuns) expect(leaks(r.output), r.output).toEqual([])
    const state = readFileSync(join(work!, 'shop.state.json'), 'utf8')
    expect(state).toContain('failed with exit code 1')
    expect(leaks(state)).toEqual([])

    // Every row of every table of the journal's schema, as text.
    const tables = await sql<{ name: string }>(
      stack!.databaseUrl,
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'bluegreen'",
    )
    let journal = ''
    for (const { name } of tables) {
      const rows = await sql<{ row: string }>(
        stack!.databaseUrl,
        `SELECT row_to_json(t)::text AS row FROM bluegreen.${name} t`,
      )
      journal += rows.map((r) => r.row).join('\n') + '\n'
    }
    expect(journal).toContain('failed with exit code 1')
    expect(journal).toContain('***')
    expect(leaks(journal)).toEqual([])
    expect(existsSync(spoolDir)).toBe(true)
  })
})
