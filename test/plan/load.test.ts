import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BluegreenError } from '../../src/errors.js'
import { PlanError, type PlanIssue } from '../../src/format/issues.js'
import { loadPlan } from '../../src/plan/load.js'
import { redact } from '../../src/redact.js'

const fixtures = resolve(import.meta.dirname, '../fixtures/plans')
const valid = (name: string) => join(fixtures, 'valid', name)
const invalid = (name: string) => join(fixtures, 'invalid', name)

/** Loads a plan that must fail and returns its issues; fails the test on anything but a PlanError. */
async function issuesOf(file: string, env: Record<string, string> = {}): Promise<PlanIssue[]> {
  const error: unknown = await loadPlan(file, { env }).then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof PlanError))
    throw new Error(`expected a PlanError from ${file}, got ${String(error)}`)
  expect(error.code).toBe('PLAN_INVALID')
  expect(error.exitCode).toBe(2)
  return error.issues
}

describe('loadPlan: valid plans', () => {
  it('loads a minimal plan with defaults applied', async () => {
    // Given the smallest useful plan, where `- switch:` has no settings
    const { plan, file, hash } = await loadPlan(valid('minimal.yaml'), { env: {} })

    // Then every default is filled in and the file is absolute
    expect(file).toBe(valid('minimal.yaml'))
    expect(plan.app).toBe('shop')
    expect(plan.phases).toEqual([
      {
        deploy: {
          run: ['./deploy.sh', '{{pool}}', '{{version}}'],
          shell: false,
          timeout: '15m',
          healthTimeout: '5m',
        },
      },
      { switch: { steps: [100], interval: '0s' } },
    ])
    expect(hash).toMatch(/^[0-9a-f]{64}$/)
  })

  it('takes numbers written where text is wanted as written, and ${VAR} numbers as numbers', async () => {
    // Given `version: 1.10`, `app: 2024`, env values 4 and true, and `port: ${SMOKE_PORT:-8443}`
    const { plan } = await loadPlan(valid('numbers-as-text.yaml'), { env: { SMOKE_INSECURE: 'true' } })

    // Then 1.10 stays "1.10" (not 1.1), and the port is the number 8443
    expect(plan.version).toBe('1.10')
    expect(plan.app).toBe('2024')
    expect(plan.pools.blue.env).toEqual({ WORKERS: '4', DEBUG: 'true' })
    const smoke = plan.phases[0]
    expect('smoke' in smoke && smoke.smoke.port).toBe(8443)
    expect('smoke' in smoke && smoke.smoke.insecure).toBe(true)
    expect('smoke' in smoke && smoke.smoke.checks[0].expect.bodyContains).toBe('1.10')
  })

  it('expands anchors, aliases and merge keys, and ignores top-level x- keys', async () => {
    const { plan } = await loadPlan(valid('anchors.yaml'), { env: {} })
    const smoke = plan.phases[0]
    expect('smoke' in smoke && smoke.smoke.checks.map((c) => [c.path, c.expect.status])).toEqual([
      ['/healthz', 200],
      ['/readyz', 200],
    ])
    expect(Object.keys(plan)).not.toContain('x-check')
  })

  it('resolves relative paths against the plan file’s directory, not the working directory', async () => {
    // Given a plan in a subdirectory with relative dirs, a state file, a CA file and a state file for HAProxy
    const { plan, dir } = await loadPlan(valid('nested/plan.yaml'), { env: {} })
    const base = join(fixtures, 'valid/nested')

    // Then each is absolute, inside the plan's directory
    expect(dir).toBe(base)
    expect(plan.state?.file).toBe(join(base, 'state/shop.json'))
    expect(plan.loadBalancer.provider === 'haproxy' && plan.loadBalancer.stateFile).toBe(
      join(base, 'state/haproxy.state'),
    )
    const [expand, smoke, , contract] = plan.phases
    expect(expand && 'expand' in expand && expand.expand.dir).toBe(join(base, 'db/expand'))
    expect(smoke && 'smoke' in smoke && smoke.smoke.caFile).toBe(join(base, 'certs/ca.pem'))
    expect(contract && 'contract' in contract && contract.contract.dir).toBe(join(base, 'db/contract'))
  })

  it('registers the database password as a secret, so no output shows it', async () => {
    await loadPlan(valid('nested/plan.yaml'), {
      env: { TEST_DATABASE_URL: 'postgres://app:9f8e7d6c@db/shop' },
    })
    expect(redact('connecting with 9f8e7d6c')).toBe('connecting with ***')
  })

  it('overrides the version with options.version, so an unset ${VERSION} is then no error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bluegreen-plan-'))
    try {
      const file = join(dir, 'plan.yaml')
      writeFileSync(file, source(minimal).replace('app: shop', 'app: shop\nversion: ${VERSION}'))
      const { plan } = await loadPlan(file, { env: {}, version: '2.0.0' })
      expect(plan.version).toBe('2.0.0')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('hashes the plan as interpolated and validated: comments and key order do not count, values do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bluegreen-plan-'))
    try {
      const write = (name: string, text: string) => {
        writeFileSync(join(dir, name), text)
        return join(dir, name)
      }
      const rest = source(minimal).replace(/^app: shop\n/m, '')
      const a = write('a.yaml', `app: shop\n${rest}`)
      const b = write('b.yaml', `# reordered, commented\n${rest}\napp: shop # the app\n`)
      const c = write('c.yaml', `app: \${APP}\n${rest}`)
      const hashOf = async (file: string, env: Record<string, string> = {}) =>
        (await loadPlan(file, { env })).hash

      expect(await hashOf(a)).toBe(await hashOf(b))
      expect(await hashOf(c, { APP: 'shop' })).toBe(await hashOf(a))
      expect(await hashOf(c, { APP: 'catalog' })).not.toBe(await hashOf(a))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('loadPlan: every error names file:line:col, the path in the plan and a hint', () => {
  const cases: { fixture: string; line: number; col: number; path: string; message: RegExp; hint: RegExp }[] =
    [
      {
        fixture: 'unknown-key.yaml',
        line: 5,
        col: 3,
        path: 'loadBalancer.lisenerArn',
        message: /unknown key "lisenerArn"/,
        hint: /did you mean "listenerArn"\?/,
      },
      {
        fixture: 'wrong-type.yaml',
        line: 13,
        col: 18,
        path: 'phases[0].backfill.batchSize',
        message: /expected a number, got "lots"/,
        hint: /batchSize takes a number/,
      },
      {
        fixture: 'quoted-number.yaml',
        line: 7,
        col: 23,
        path: 'phases[0].switch.steps[0]',
        message: /expected a number, got "100"/,
        hint: /^write the number without quotes: 100$/,
      },
      {
        fixture: 'bad-duration.yaml',
        line: 9,
        col: 16,
        path: 'phases[0].deploy.timeout',
        message: /"5 minutes" is not a duration/,
        hint: /did you mean "5m"\? write 90s, 5m, 24h or 14d/,
      },
      {
        fixture: 'unset-variable.yaml',
        line: 3,
        col: 23,
        path: 'database.url',
        message: /environment variable BLUEGREEN_TEST_UNSET_HOST is not set/,
        hint: /\$\{BLUEGREEN_TEST_UNSET_HOST:-value\}/,
      },
      {
        fixture: 'unknown-placeholder.yaml',
        line: 8,
        col: 38,
        path: 'phases[0].deploy.run[2]',
        message: /unknown placeholder \{\{ver\}\}/,
        hint: /did you mean \{\{version\}\}\?/,
      },
      {
        fixture: 'broken-yaml.yaml',
        line: 5,
        col: 3,
        path: 'pools.green',
        message: /invalid YAML: Flow sequence/,
        hint: /indentation and quoting/,
      },
      {
        fixture: 'empty.yaml',
        line: 1,
        col: 1,
        path: '',
        message: /the plan is empty/,
        hint: /plans\/demo.yaml/,
      },
      {
        fixture: 'scalar.yaml',
        line: 1,
        col: 1,
        path: '',
        message: /a plan is a map of keys .*not "just some text"/,
        hint: /top level has app:/,
      },
      { fixture: 'list.yaml', line: 1, col: 1, path: '', message: /not a list/, hint: /top level has app:/ },
      {
        fixture: 'phases-not-list.yaml',
        line: 7,
        col: 3,
        path: 'phases',
        message: /phases must be a list, not a map/,
        hint: /- expand:/,
      },
      {
        fixture: 'phase-string.yaml',
        line: 7,
        col: 5,
        path: 'phases[0]',
        message: /got "switch"/,
        hint: /write "- switch:"/,
      },
      {
        fixture: 'null-values.yaml',
        line: 1,
        col: 1,
        path: 'app',
        message: /"app" has no value/,
        hint: /give it a value/,
      },
      {
        fixture: 'duplicate-keys.yaml',
        line: 6,
        col: 3,
        path: 'pools.blue',
        message: /duplicate key "blue"/,
        hint: /once per map/,
      },
      {
        fixture: 'tabs.yaml',
        line: 3,
        col: 1,
        path: '',
        message: /Tabs are not allowed/,
        hint: /spaces, not tabs/,
      },
      {
        fixture: 'unknown-phase.yaml',
        line: 7,
        col: 5,
        path: 'phases[0].swtich',
        message: /unknown phase kind "swtich"/,
        hint: /did you mean "switch"\?/,
      },
      {
        fixture: 'phase-indent-slip.yaml',
        line: 8,
        col: 5,
        path: 'phases[0].run',
        message: /exactly one key.*deploy, run/,
        hint: /indent run under "deploy:"/,
      },
      {
        fixture: 'unquoted-placeholder.yaml',
        line: 12,
        col: 27,
        path: 'phases[0].smoke.checks[0].expect.bodyContains',
        message: /expected text, got a map/,
        hint: /quote it/,
      },
      {
        fixture: 'missing-dir.yaml',
        line: 8,
        col: 20,
        path: 'phases[0].expand.dir',
        message: /directory not found: .*invalid\/no-such-dir\/expand/,
        hint: /plan file’s directory/,
      },
      {
        fixture: 'multi-doc.yaml',
        line: 2,
        col: 1,
        path: '',
        message: /more than one YAML document/,
        hint: /remove the extra "---"/,
      },
      {
        fixture: 'unknown-alias.yaml',
        line: 2,
        col: 15,
        path: 'loadBalancer',
        message: /alias \*lb has no anchor/,
        hint: /anchor \(&name\)/,
      },
    ]

  it.each(cases)('$fixture', async ({ fixture, line, col, path, message, hint }) => {
    // Given a plan with one kind of mistake, When it is loaded
    const issues = await issuesOf(invalid(fixture))

    // Then the first error points at the mistake, with a hint
    const [first] = issues
    expect(first).toMatchObject({ file: invalid(fixture), line, col, path })
    expect(first.message).toMatch(message)
    expect(first.hint).toMatch(hint)
  })

  it('lists all errors at once, in file order', async () => {
    const issues = await issuesOf(invalid('many-errors.yaml'))
    expect(issues.map((i) => `${i.line}:${i.col} ${i.path}`)).toEqual([
      '1:6 app',
      '3:8 database.url',
      '4:3 database.lockTimout',
      '6:13 loadBalancer.provider',
      '11:34 phases[0].deploy.run[1]',
      '11:55 phases[0].deploy.timeout',
      // "steps must increase"; that the plan's last switch ends at 100 is checked once it parses
      '12:22 phases[1].switch.steps',
      '13:5 phases[2].contrct',
    ])
    expect(issues.find((i) => i.path === 'loadBalancer.provider')?.hint).toMatch(/did you mean "haproxy"\?/)
    expect(issues.every((i) => i.hint.length > 0)).toBe(true)
  })

  it('checks what the load balancer needs of the pools, and what phases need', async () => {
    const issues = await issuesOf(invalid('needs-database.yaml'))
    expect(issues.map((i) => [i.path, i.message])).toEqual([
      ['pools.blue', 'pool blue has no targetGroupArn'],
      ['phases[0].backfill', 'the backfill phase needs a database, and the plan has none'],
      ['phases[1].exec.run', 'run is one string, but shell is not true'],
    ])
  })

  it('puts one line per error and one per hint in details, for formatError', async () => {
    const error = await loadPlan(invalid('unknown-key.yaml'), { env: {} }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PlanError)
    expect((error as PlanError).details).toEqual([
      `${invalid('unknown-key.yaml')}:5:3  loadBalancer.lisenerArn  unknown key "lisenerArn"`,
      '    hint: did you mean "listenerArn"?',
    ])
  })

  it('reports a missing file as PLAN_NOT_FOUND with a hint', async () => {
    const error = await loadPlan(join(fixtures, 'no-such-plan.yaml')).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BluegreenError)
    expect(error).not.toBeInstanceOf(PlanError)
    expect((error as BluegreenError).code).toBe('PLAN_NOT_FOUND')
    expect((error as BluegreenError).hint).toMatch(/plans\/demo.yaml/)
  })
})

describe('loadPlan: hostile input never escapes as anything but a PlanError', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bluegreen-hostile-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, text: string | Buffer) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }

  const hostile: [string, string | Buffer][] = [
    ['deep flow lists', '['.repeat(5000) + ']'.repeat(5000)],
    ['deep flow maps', 'a: ' + '{b: '.repeat(3000) + '1' + '}'.repeat(3000)],
    [
      'deep block maps',
      'app: shop\nx:\n' + Array.from({ length: 300 }, (_, i) => `${'  '.repeat(i + 1)}k:`).join('\n'),
    ],
    ['an alias bomb', aliasBomb()],
    ['a binary file', Buffer.from([0xff, 0xfe, 0x00, 0x01])],
    ['a huge file', 'app: shop\n# ' + 'x'.repeat(2_000_000)],
    ['a custom tag', 'app: !custom shop\n'],
    ['a complex key', '? [a, b]\n: 1\n'],
    ['prototype keys', 'app: shop\n__proto__: { polluted: true }\nconstructor: 1\n'],
    ['only a comment', '# nothing here\n'],
    ['a number at the top', '42\n'],
    [
      'phases of every wrong shape',
      source(minimal).replace(/phases:[\s\S]*/, 'phases: [42, null, [], {}, {deploy: null}, {a: 1, b: 2}]\n'),
    ],
    ['an unclosed quote', 'app: "shop\n'],
    ['a BOM and CRLF line ends', '\uFEFF' + source(minimal).replace(/\n/g, '\r\n')],
  ]

  it.each(hostile)('%s', async (name, text) => {
    const file = write(`${name.replace(/\W+/g, '-')}.yaml`, text)
    const result = await loadPlan(file, { env: {} }).then(
      (loaded) => ({ ok: true as const, loaded }),
      (error: unknown) => ({ ok: false as const, error }),
    )
    if (result.ok) {
      // Only the BOM/CRLF plan is valid.
      expect(name).toBe('a BOM and CRLF line ends')
      return
    }
    expect(result.error).toBeInstanceOf(PlanError)
    const issues = (result.error as PlanError).issues
    expect(issues.length).toBeGreaterThan(0)
    for (const issue of issues) {
      expect(issue.message).not.toBe('')
      expect(issue.hint).not.toBe('')
    }
    expect(Object.prototype).not.toHaveProperty('polluted')
  })
})

const minimal = valid('minimal.yaml')

function source(file: string): string {
  return readFileSync(file, 'utf8')
}

/** "Billion laughs": each anchor aliases the previous one nine times. */
function aliasBomb(): string {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
  let previous = 'a'
  for (let i = 1; i < 12; i++) {
    const name = String.fromCharCode(97 + i)
    lines.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`)
    previous = name
  }
  return lines.join('\n') + '\n'
}

describe('loadPlan: tolerateUnset (what rollback does not read)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bluegreen-tolerate-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const plan = join(dir, 'plan.yaml')
  writeFileSync(
    plan,
    [
      'app: shop',
      'database: { url: "${DATABASE_URL}" }',
      'loadBalancer: { provider: haproxy, runtimeApi: /run/haproxy.sock, backend: shop }',
      'pools: { blue: { servers: [b1] }, green: { servers: [g1] } }',
      'phases:',
      '  - deploy: { run: [./deploy.sh, "${REGISTRY}"] }',
      '  - switch: { steps: [50, 100], interval: "1 minute" }',
      '',
    ].join('\n'),
  )
  const notVerify = (path: readonly (string | number)[]) => path[0] !== 'loadBalancer'

  it('leaves out the sections holding an unset variable and names them', async () => {
    const error: unknown = await loadPlan(plan, { env: {}, tolerateUnset: notVerify }).catch(
      (e: unknown) => e,
    )
    // The switch phase's own mistake is still reported, at its line as written (index 1, line 7)
    expect(error).toBeInstanceOf(PlanError)
    const issues = (error as PlanError).issues
    expect(issues.map((i) => [i.path, i.line])).toEqual([['phases[1].switch.interval', 7]])
  })

  it('loads when nothing else is wrong, with the omitted sections listed', async () => {
    writeFileSync(plan, readFileSync(plan, 'utf8').replace('"1 minute"', '1m'))
    const loaded = await loadPlan(plan, { env: {}, tolerateUnset: notVerify })
    expect(loaded.omitted).toEqual([
      { section: 'database', variables: ['DATABASE_URL'] },
      { section: 'phases[0]', variables: ['REGISTRY'] },
    ])
    expect(loaded.plan.phases.map((p) => Object.keys(p)[0])).toEqual(['switch'])
    // Without the option, the same plan is an error naming both variables
    const issues = await issuesOf(plan)
    expect(issues.map((i) => i.message)).toEqual([
      'environment variable DATABASE_URL is not set',
      'environment variable REGISTRY is not set',
    ])
  })
})
