/**
 * What each step of a release will do, in words: `plan show`, the engine's --dry-run and the
 * phase objects all describe steps with this one pure function (no network, no database, no
 * file system), so the three can never disagree.
 */
import { relative } from 'node:path'
import { parseDuration } from './duration.js'
import { fillPlaceholders, type PlaceholderVars } from './placeholders.js'
import {
  phaseOf,
  type Expect,
  type Check,
  type PhaseConfig,
  type PhaseEntry,
  type PhaseKind,
  type Plan,
} from './schema.js'

export type StepTouches = 'database' | 'pool' | 'load balancer' | 'journal' | 'none'

export interface StepDescription {
  kind: PhaseKind
  touches: StepTouches
  /** What it touches, for people: "pool green", "database shop", "load balancer", "journal", "—". */
  target: string
  /** One line: what the step will do, with its durations. */
  summary: string
  /** Further lines: settings that matter when reading the plan. */
  details: string[]
  /** The time the plan gives the step (timeout, deadline, bake or standby time), if it says. */
  durationMs?: number
}

export interface DescribeOptions {
  /** Paths (migration dirs, CA files) are shown relative to this directory, e.g. process.cwd(). */
  relativeTo?: string
}

export function describeStep(
  entry: PhaseEntry,
  plan: Plan,
  vars: PlaceholderVars,
  options: DescribeOptions = {},
): StepDescription {
  const { kind } = phaseOf(entry)
  const words = new Words(plan, vars, options)
  switch (kind) {
    case 'expand':
      return words.expand(config(entry, 'expand'))
    case 'backfill':
      return words.backfill(config(entry, 'backfill'))
    case 'deploy':
      return words.deploy(config(entry, 'deploy'))
    case 'smoke':
      return words.smoke(config(entry, 'smoke'))
    case 'switch':
      return words.switch(config(entry, 'switch'))
    case 'verify':
      return words.verify(config(entry, 'verify'))
    case 'standby':
      return words.standby(config(entry, 'standby'))
    case 'contract':
      return words.contract(config(entry, 'contract'))
    case 'exec':
      return words.exec(config(entry, 'exec'))
  }
}

/** Every step of the plan, in order. */
export function describePlan(
  plan: Plan,
  vars: PlaceholderVars,
  options: DescribeOptions = {},
): StepDescription[] {
  return plan.phases.map((entry) => describeStep(entry, plan, vars, options))
}

/**
 * Numbered lines for a terminal: `4. smoke      pool green   GET /healthz → 200 …`, details
 * indented below their step.
 */
export function formatSteps(steps: StepDescription[]): string[] {
  const number = (i: number) => `${i + 1}.`.padEnd(String(steps.length).length + 2)
  const kindWidth = Math.max(...steps.map((s) => s.kind.length), 0) + 2
  const targetWidth = Math.max(...steps.map((s) => s.target.length), 0) + 2
  const indent = ' '.repeat(number(0).length + kindWidth + targetWidth)
  return steps.flatMap((step, i) => [
    `${number(i)}${step.kind.padEnd(kindWidth)}${step.target.padEnd(targetWidth)}${step.summary}`,
    ...step.details.map((detail) => `${indent}${detail}`),
  ])
}

function config<K extends PhaseKind>(entry: PhaseEntry, kind: K): PhaseConfig<K> {
  return (entry as Record<K, PhaseConfig<K>>)[kind]
}

class Words {
  constructor(
    private readonly plan: Plan,
    private readonly vars: PlaceholderVars,
    private readonly options: DescribeOptions,
  ) {}

  expand(c: PhaseConfig<'expand'>): StepDescription {
    const db = this.plan.database
    return {
      kind: 'expand',
      touches: 'database',
      target: this.databaseTarget(),
      summary: `${c.lint ? 'lint, then apply' : 'apply (without linting)'} the migrations in ${this.path(c.dir)}`,
      details: [
        ...(db
          ? [
              `lock_timeout ${db.lockTimeout} per DDL attempt, up to ${db.retries} attempts`,
              `statement_timeout ${db.statementTimeout}`,
            ]
          : []),
        ...(c.sync ?? []).flatMap((sync) => this.sync(sync)),
      ],
    }
  }

  /** The trigger a declared sync installs, and the backfill that follows it. */
  private sync(sync: NonNullable<PhaseConfig<'expand'>['sync']>[number]): string[] {
    const { table, forward, backward } =
      'rename' in sync
        ? {
            table: sync.rename.table,
            forward: { [sync.rename.to]: sync.rename.column },
            backward: { [sync.rename.column]: sync.rename.to },
          }
        : sync
    const relation = table.split('.').at(-1) ?? table
    const assignments = (map: Record<string, string>) =>
      Object.entries(map)
        .map(([column, expression]) => `${column} = ${expression}`)
        .join(', ')
    return [
      ...('rename' in sync
        ? [`add ${table}.${sync.rename.to} (type of ${sync.rename.column}, nullable) unless the SQL did`]
        : []),
      `then install trigger bluegreen_sync_${this.plan.app}_${relation}_<release seq> on ${table} (BEFORE INSERT OR UPDATE): forward ${assignments(forward)}; backward ${assignments(backward)}`,
      `then backfill ${table} through forward where the new columns differ, in batches of 1000 (resumable)`,
    ]
  }

  backfill(c: PhaseConfig<'backfill'>): StepDescription {
    const pace = [
      c.pause !== '0ms' && parseDuration(c.pause) > 0 ? `${c.pause} pause between batches` : undefined,
      c.rowsPerSecond ? `at most ${c.rowsPerSecond} rows/s` : undefined,
    ].filter((line): line is string => line !== undefined)
    return {
      kind: 'backfill',
      touches: 'database',
      target: this.databaseTarget(),
      summary: `UPDATE ${c.table} SET ${c.set} WHERE ${c.where}, ${c.batchSize} rows per batch`,
      details: [
        ...(c.key ? [`batches keyed by ${c.key.join(', ')}`] : []),
        ...pace,
        'resumable: rows already done no longer match the WHERE',
      ],
    }
  }

  deploy(c: PhaseConfig<'deploy'>): StepDescription {
    return {
      kind: 'deploy',
      touches: 'pool',
      target: this.poolTarget(),
      summary:
        `run ${this.command(c.run, c.shell)} (timeout ${c.timeout}), ` +
        `then wait up to ${c.healthTimeout} for the pool to be healthy`,
      details: envDetails(c.env),
      durationMs: parseDuration(c.timeout) + parseDuration(c.healthTimeout),
    }
  }

  smoke(c: PhaseConfig<'smoke'>): StepDescription {
    const checks = c.checks.map((check) => this.check(check))
    const what = checks.length === 1 ? checks[0] : `${checks.length} checks`
    const connection = [
      `${c.scheme}${c.port ? ` on port ${c.port}` : ''}`,
      `up to ${c.concurrency} at a time`,
      ...(c.caFile ? [`CA ${this.path(c.caFile)}`] : []),
      ...(c.insecure ? ['certificates NOT verified'] : []),
    ].join(', ')
    return {
      kind: 'smoke',
      touches: 'pool',
      target: this.poolTarget(),
      summary: `${what} on every target, Host ${this.fill(c.host)}, retry up to ${c.deadline}`,
      details: [...(checks.length > 1 ? checks : []), connection],
      durationMs: parseDuration(c.deadline),
    }
  }

  switch(c: PhaseConfig<'switch'>): StepDescription {
    const to = this.vars.pool ?? 'the inactive pool'
    const intervalMs = parseDuration(c.interval)
    const summary =
      c.steps.length === 1
        ? `send all traffic to ${poolWord(to)} at once`
        : `shift traffic to ${poolWord(to)}: ${c.steps.map((s) => `${s}%`).join(' → ')}` +
          (intervalMs > 0 ? `, ${c.interval} apart` : '')
    return {
      kind: 'switch',
      touches: 'load balancer',
      target: 'load balancer',
      summary,
      details: [this.loadBalancerLine(), 'the pool must stay healthy after each step'],
      durationMs: intervalMs * (c.steps.length - 1),
    }
  }

  verify(c: PhaseConfig<'verify'>): StepDescription {
    const marker = c.versionMarker ? this.fill(c.versionMarker) : undefined
    return {
      kind: 'verify',
      touches: 'load balancer',
      target: 'load balancer',
      summary: `watch ${this.fill(c.url)} for ${c.for}, every ${c.interval}; on failure switch back to the old pool`,
      details: [
        `expect ${describeExpect(c.expect, (text) => this.fill(text))}`,
        `fails at more than ${Math.round(c.maxErrorRatio * 100)}% errors or ${c.failAfter} failures in a row`,
        ...(marker ? [`"${marker}" must answer ${c.versionSeen} times in a row`] : []),
        ...(c.resolve ? [`connects to ${c.resolve} (like curl --resolve)`] : []),
        ...(c.caFile ? [`CA ${this.path(c.caFile)}`] : []),
        ...(c.insecure ? ['certificates NOT verified'] : []),
      ],
      durationMs: parseDuration(c.for),
    }
  }

  standby(c: PhaseConfig<'standby'>): StepDescription {
    return {
      kind: 'standby',
      touches: 'journal',
      target: 'journal',
      summary: `keep ${poolWord(this.oldPool())} running as the rollback target for ${c.for}`,
      details: ['`bluegreen rollback` switches back to it; `bluegreen retire` gives it up early'],
      durationMs: parseDuration(c.for),
    }
  }

  contract(c: PhaseConfig<'contract'>): StepDescription {
    const notBefore = parseDuration(c.notBefore) > 0 ? `, due ${c.notBefore} after this release` : ''
    return {
      kind: 'contract',
      touches: 'database',
      target: this.databaseTarget(),
      summary: `run earlier releases’ contract migrations that are now safe; record ${this.path(c.dir)} as pending${notBefore}`,
      details: [
        'a contract runs only once no pool can still run the release before it',
        ...this.contractChecks(),
      ],
    }
  }

  /** What this release's contract checks before it drops anything (see src/engine/contract.ts). */
  private contractChecks(): string[] {
    return this.plan.phases.map(phaseOf).flatMap(({ kind, config }): string[] => {
      if (kind === 'backfill') {
        const c = config as PhaseConfig<'backfill'>
        return [`its contract first checks that no row of ${c.table} still matches ${c.where}`]
      }
      if (kind !== 'expand') return []
      return ((config as PhaseConfig<'expand'>).sync ?? []).map((sync) => {
        const [table, columns] =
          'rename' in sync
            ? [sync.rename.table, sync.rename.to]
            : [sync.table, Object.keys(sync.forward).join(', ')]
        return `its contract first checks parity on ${table} (${columns} = forward(old) in every row), then drops the sync trigger before its SQL`
      })
    })
  }

  exec(c: PhaseConfig<'exec'>): StepDescription {
    return {
      kind: 'exec',
      touches: 'none',
      target: '—',
      summary: `${c.name ? `${c.name}: ` : ''}run ${this.command(c.run, c.shell)} (timeout ${c.timeout})`,
      details: envDetails(c.env),
      durationMs: parseDuration(c.timeout),
    }
  }

  private check(check: Check): string {
    const name = check.name ? `${check.name}: ` : ''
    return `${name}${check.method} ${this.fill(check.path)} → ${describeExpect(check.expect, (text) => this.fill(text))}`
  }

  private poolTarget(): string {
    return `pool ${this.vars.pool ?? '{{pool}} (the inactive pool)'}`
  }

  private oldPool(): string {
    if (this.vars.pool === 'blue') return 'green'
    if (this.vars.pool === 'green') return 'blue'
    return 'the live pool'
  }

  private databaseTarget(): string {
    const url = this.plan.database?.url
    if (!url) return 'database'
    try {
      const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''))
      return name ? `database ${name}` : 'database'
    } catch {
      return 'database'
    }
  }

  private loadBalancerLine(): string {
    const lb = this.plan.loadBalancer
    switch (lb.provider) {
      case 'aws-elbv2': {
        const sticky = lb.stickiness
          ? `; group stickiness ${lb.stickiness.duration} on forward switches (a rollback turns it off and moves every client)`
          : '; group stickiness as the listener has it (a rollback turns it off and moves every client)'
        return lb.ruleArn
          ? `aws-elbv2 listener rule ${lb.ruleArn}${sticky}`
          : `aws-elbv2 listener ${lb.listenerArn ?? ''} (${lb.region}${lb.endpoint ? `, endpoint ${lb.endpoint}` : ''})${sticky}`
      }
      case 'haproxy':
        return `haproxy backend ${lb.backend} via the runtime API at ${lb.runtimeApi} (weights change, no reload)`
      case 'nginx':
        return `nginx upstream ${lb.upstream} in ${this.path(lb.upstreamFile)}, then ${lb.reload.join(' ')}`
    }
  }

  private command(run: string | string[], shell: boolean): string {
    if (typeof run === 'string') return `${shell ? 'sh -c ' : ''}${shellQuote(this.fill(run))}`
    return run.map((part) => shellQuote(this.fill(part))).join(' ')
  }

  private fill(text: string): string {
    return fillPlaceholders(text, { app: this.plan.app, version: this.plan.version, ...this.vars })
  }

  private path(path: string): string {
    if (!this.options.relativeTo) return path
    const shown = relative(this.options.relativeTo, path)
    return shown === '' ? '.' : shown
  }
}

function poolWord(pool: string): string {
  return pool === 'blue' || pool === 'green' ? `pool ${pool}` : pool
}

function envDetails(env: Record<string, string> | undefined): string[] {
  const keys = Object.keys(env ?? {})
  // Values may be secrets: name the variables only.
  return keys.length > 0 ? [`environment: ${keys.join(', ')}`] : []
}

/** `200`, `body contains "1.4.2"`, …; a plain 2xx when the plan says nothing. */
export function describeExpect(expect: Expect, fill: (text: string) => string = (text) => text): string {
  const parts: string[] = []
  if (expect.status !== undefined)
    parts.push(Array.isArray(expect.status) ? expect.status.join('|') : String(expect.status))
  for (const [name, value] of Object.entries(expect.headers ?? {})) parts.push(`${name}: ${fill(value)}`)
  for (const [name, pattern] of Object.entries(expect.headersMatch ?? {}))
    parts.push(`${name} ~ /${fill(pattern)}/`)
  if (expect.bodyContains !== undefined) parts.push(`body contains "${fill(expect.bodyContains)}"`)
  if (expect.bodyMatches !== undefined) parts.push(`body ~ /${fill(expect.bodyMatches)}/`)
  for (const { path, equals } of expect.json ?? []) {
    parts.push(
      `${path} = ${typeof equals === 'string' ? JSON.stringify(fill(equals)) : JSON.stringify(equals)}`,
    )
  }
  if (expect.maxLatency !== undefined) parts.push(`within ${expect.maxLatency}`)
  return parts.length > 0 ? parts.join(', ') : '2xx'
}

/** Shows an argv the way a shell would need it, so it can be copied and run by hand. */
function shellQuote(arg: string): string {
  if (arg !== '' && /^[\w@%+=:,./{}-]+$/.test(arg)) return arg
  return `'${arg.replace(/'/g, `'\\''`)}'`
}
