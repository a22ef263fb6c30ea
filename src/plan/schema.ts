/**
 * The whole plan format, as one zod schema. Every object is strict (unknown keys are errors),
 * the JSON Schema in plans/plan.schema.json is generated from this file, and the phase
 * executors in src/phases/ read the types exported here.
 */
import * as z from 'zod'
import { durationPattern } from './duration.js'
import { versionPattern, versionRule } from './version.js'

// A process validates a plan once: compiling each object's parser with `new Function` (zod's
// default) costs more than it saves — about 6 ms of every command's start-up.
z.config({ jitless: true })

export const Duration = z
  .string()
  .regex(durationPattern, { message: 'expected a duration such as 250ms, 90s, 5m, 24h or 14d' })
  .describe('A duration: a number and a unit (ms, s, m, h, d), e.g. 90s, 5m, 24h, 14d')

/** An argv array (preferred) or, with `shell: true`, one shell string. */
export const Command = z
  .union([z.array(z.string()).min(1), z.string().min(1)])
  .describe('The command to run: an argv array, or a single string when `shell: true`')

/** See version.ts: versions are names, not code. */
export const Version = z
  .string()
  .regex(versionPattern, { message: versionRule })
  .describe(`Version being released (or --version); ${versionRule}`)

// Optional rather than defaulted: the plan hash of plans that do not use it stays what it was.
const allowEmpty = z
  .boolean()
  .optional()
  .describe('true: accept a directory without any .sql file (otherwise that is a plan error)')

export const PoolName = z.enum(['blue', 'green'])
export type PoolName = z.infer<typeof PoolName>

const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-_]*$/, { message: 'use lowercase letters, digits, - and _ (e.g. shop)' })

export const Database = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .describe('PostgreSQL connection URL; use ${DATABASE_URL} to keep the password out of the file'),
    lockTimeout: Duration.default('1s').describe(
      'lock_timeout per DDL attempt; a timeout is retried with backoff',
    ),
    statementTimeout: Duration.default('15m').describe('statement_timeout for each migration statement'),
    retries: z.int().min(1).max(100).default(8).describe('Attempts per migration statement on lock timeout'),
  })
  .describe('The application database: migrations, backfills and the state store (schema `bluegreen`)')

export const State = z
  .strictObject({
    file: z.string().min(1).describe('JSON state file used when the plan has no database'),
  })
  .describe('Where the journal lives when the plan has no database')

const AwsElbv2 = z
  .strictObject({
    provider: z.literal('aws-elbv2'),
    region: z.string().min(1).describe('AWS region, e.g. eu-west-1'),
    listenerArn: z.string().startsWith('arn:').optional().describe("Switch this listener's default action"),
    ruleArn: z
      .string()
      .startsWith('arn:')
      .optional()
      .describe('Switch this listener rule instead (shared load balancers)'),
    endpoint: z.url().optional().describe('Endpoint override, e.g. the local emulator http://127.0.0.1:4566'),
    profile: z.string().optional().describe('Named profile from the shared AWS config files'),
    consistencyTimeout: Duration.optional().describe(
      'How long a switch waits for ELBv2 (eventually consistent) to describe the weights it wrote (default 10s)',
    ),
    stickiness: z
      .strictObject({
        duration: Duration.describe('TargetGroupStickinessConfig.DurationSeconds, 1s to 7d'),
      })
      .optional()
      .describe(
        'Group stickiness that forward switches keep on; a rollback turns it off, the next switch restores it',
      ),
  })
  .refine((lb) => Boolean(lb.listenerArn) !== Boolean(lb.ruleArn), {
    message: 'give exactly one of listenerArn or ruleArn',
    path: ['listenerArn'],
  })

const Haproxy = z.strictObject({
  provider: z.literal('haproxy'),
  runtimeApi: z
    .string()
    .min(1)
    .describe(
      'HAProxy runtime API: unix socket path (unix:/run/haproxy.sock or /run/haproxy.sock) or host:port',
    ),
  backend: z.string().min(1).describe('The backend that holds both pools’ servers'),
  stateFile: z
    .string()
    .optional()
    .describe('server-state file written after every switch so the live pool survives a restart'),
})

const Nginx = z.strictObject({
  provider: z.literal('nginx'),
  upstreamFile: z
    .string()
    .min(1)
    .describe('The include file holding the upstream block; rewritten by atomic rename'),
  upstream: z.string().min(1).describe('Name of the upstream block'),
  reload: z
    .array(z.string())
    .min(1)
    .default(['nginx', '-s', 'reload'])
    .describe('Command that reloads nginx'),
  test: z.array(z.string()).min(1).default(['nginx', '-t']).describe('Command that checks the configuration'),
})

export const LoadBalancerConfig = z
  .discriminatedUnion('provider', [AwsElbv2, Haproxy, Nginx])
  .describe('The load balancer that switches between the pools: provider aws-elbv2, haproxy or nginx')
export type LoadBalancerConfig = z.infer<typeof LoadBalancerConfig>
export type AwsElbv2Config = Extract<LoadBalancerConfig, { provider: 'aws-elbv2' }>
export type HaproxyConfig = Extract<LoadBalancerConfig, { provider: 'haproxy' }>
export type NginxConfig = Extract<LoadBalancerConfig, { provider: 'nginx' }>

export const Pool = z
  .strictObject({
    targetGroupArn: z.string().startsWith('arn:').optional().describe('aws-elbv2: the pool’s target group'),
    servers: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('haproxy: server names in the backend; nginx: host:port of each server'),
    addresses: z
      .array(z.string().regex(/^[^\s:]+:\d+$/, { message: 'expected host:port' }))
      .optional()
      .describe(
        'host:port of each target, for smoke tests when the load balancer cannot tell (instance targets)',
      ),
    env: z
      .record(z.string(), z.string())
      .optional()
      .describe('Extra environment for this pool’s deploy command'),
  })
  .describe('One of the two pools')
export type Pool = z.infer<typeof Pool>

const Expect = z
  .strictObject({
    status: z
      .union([z.int(), z.array(z.int()).min(1)])
      .optional()
      .describe('Expected status code or list of codes'),
    headers: z.record(z.string(), z.string()).optional().describe('Headers that must equal these values'),
    headersMatch: z
      .record(z.string(), z.string())
      .optional()
      .describe('Headers that must match these regular expressions'),
    bodyContains: z.string().optional(),
    bodyMatches: z.string().optional().describe('A regular expression the body must match'),
    json: z
      .array(z.strictObject({ path: z.string().min(1), equals: z.unknown() }))
      .optional()
      .describe('JSON values at dotted paths (e.g. build.version) that must equal the given value'),
    maxLatency: Duration.optional(),
  })
  .describe('What a response must look like; default: a 2xx status')
export type Expect = z.infer<typeof Expect>

export const Check = z.strictObject({
  name: z.string().optional(),
  method: z.string().default('GET'),
  path: z.string().startsWith('/'),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.string().optional(),
  expect: Expect.default({}),
  timeout: Duration.default('5s').describe('Per request'),
})
export type Check = z.infer<typeof Check>

const TlsOptions = {
  caFile: z.string().optional().describe('PEM CA bundle to verify the pool’s certificate against'),
  insecure: z.boolean().default(false).describe('Skip certificate verification (warns on every run)'),
}

const SqlExpressions = z
  .record(z.string().min(1), z.string().min(1))
  .refine((map) => Object.keys(map).length > 0, 'give at least one column')
const SyncDeclaration = z.union([
  z
    .strictObject({
      table: z.string().min(1),
      forward: SqlExpressions.describe('New column → SQL expression over the old columns'),
      backward: SqlExpressions.describe('Old column → SQL expression over the new columns'),
    })
    .describe('How new columns follow from old ones (forward) and back (backward)'),
  z
    .strictObject({
      rename: z.strictObject({
        table: z.string().min(1),
        column: z.string().min(1),
        to: z.string().min(1),
      }),
    })
    .describe('A renamed column: adds `to` (same type, nullable) if the SQL did not, and keeps both equal'),
])
export type SyncDeclaration = z.infer<typeof SyncDeclaration>

const phaseSchemas = {
  expand: z
    .strictObject({
      dir: z.string().min(1).describe('Directory of .sql files applied in file-name order'),
      lint: z.boolean().default(true).describe('Refuse files the compatibility linter flags'),
      allowEmpty,
      sync: z
        .array(SyncDeclaration)
        .optional()
        .describe(
          'Columns kept in sync by triggers while both versions run; dropped by this release’s contract',
        ),
    })
    .describe('Apply backward-compatible migrations'),
  backfill: z
    .strictObject({
      table: z.string().min(1),
      set: z.string().min(1).describe('SQL assignment list, e.g. "first_name = name"'),
      where: z.string().min(1).describe('Selects the rows still to do, so a restart resumes'),
      key: z.array(z.string()).min(1).optional().describe('Key columns (default: the primary key)'),
      batchSize: z.int().min(1).default(1000),
      pause: Duration.default('0ms').describe('Pause between batches'),
      rowsPerSecond: z.number().positive().optional().describe('Cap on the update rate'),
    })
    .describe('Copy or compute data into new columns in small batches'),
  deploy: z
    .strictObject({
      run: Command,
      shell: z.boolean().default(false),
      env: z.record(z.string(), z.string()).optional(),
      timeout: Duration.default('15m'),
      healthTimeout: Duration.default('5m').describe(
        'How long to wait for the pool to be healthy after deploying',
      ),
    })
    .describe('Deploy the new version to the inactive pool, then wait until it is healthy'),
  smoke: z
    .strictObject({
      host: z.string().min(1).describe('Production host name: sent as Host header and TLS SNI'),
      scheme: z.enum(['http', 'https']).default('http'),
      port: z
        .int()
        .min(1)
        .max(65535)
        .optional()
        .describe('Port on each target (default: the target’s own port)'),
      ...TlsOptions,
      concurrency: z.int().min(1).default(8),
      deadline: Duration.default('60s').describe('How long a failing check is retried'),
      checks: z.array(Check).min(1),
    })
    .describe('Check every target of the inactive pool through a host override'),
  switch: z
    .strictObject({
      steps: z
        .array(z.int().min(1).max(100))
        .min(1)
        .default([100])
        .refine((steps) => steps.at(-1) === 100, { message: 'the last step must be 100' })
        .refine((steps) => steps.every((s, i) => i === 0 || s > steps[i - 1]), {
          message: 'steps must increase',
        })
        .describe('Percentages of traffic sent to the new pool, ending at 100'),
      interval: Duration.default('0s').describe('Pause between steps (health is checked after each)'),
    })
    .describe('Point the load balancer at the new pool'),
  verify: z
    .strictObject({
      url: z.url().describe('The production URL'),
      for: Duration.describe('Bake time'),
      interval: Duration.default('2s'),
      resolve: z
        .string()
        .regex(/^[^\s:]+:\d+$/, { message: 'expected host:port' })
        .optional()
        .describe('Connect here instead of resolving the URL’s host (like curl --resolve)'),
      ...TlsOptions,
      expect: Expect.default({}),
      versionMarker: z
        .string()
        .optional()
        .describe('Text that proves the new version answered, e.g. "{{version}}"'),
      versionSeen: z
        .int()
        .min(1)
        .default(3)
        .describe('Consecutive answers carrying the marker needed to pass'),
      maxErrorRatio: z.number().min(0).max(1).default(0.05),
      failAfter: z.int().min(1).default(3).describe('Consecutive failures that fail the phase at once'),
      timeout: Duration.default('5s').describe('Per request'),
    })
    .describe('Watch production for a bake time; a failure switches back automatically'),
  standby: z
    .strictObject({ for: Duration.describe('How long the old pool stays the rollback target') })
    .describe('Keep the old pool running as the rollback target'),
  contract: z
    .strictObject({
      dir: z.string().min(1),
      notBefore: Duration.default('0s').describe('Minimum age of a release before its contract may run'),
      allowEmpty,
    })
    .describe(
      'Run the earlier releases’ contract migrations that are now safe; record this release’s own as pending',
    ),
  exec: z
    .strictObject({
      name: z.string().optional(),
      run: Command,
      shell: z.boolean().default(false),
      env: z.record(z.string(), z.string()).optional(),
      timeout: Duration.default('10m'),
    })
    .describe('Run any command'),
}
export const phaseKinds = Object.keys(phaseSchemas) as PhaseKind[]
export type PhaseKind = keyof typeof phaseSchemas
export type PhaseConfig<K extends PhaseKind> = z.infer<(typeof phaseSchemas)[K]>
export { phaseSchemas }

/**
 * A phase entry is an object with exactly one key: the phase kind. Spelled out per kind (not
 * mapped over phaseKinds) so that `Plan['phases']` keeps its precise type.
 */
export const PhaseEntry = z.union([
  z.strictObject({ expand: phaseSchemas.expand }),
  z.strictObject({ backfill: phaseSchemas.backfill }),
  z.strictObject({ deploy: phaseSchemas.deploy }),
  z.strictObject({ smoke: phaseSchemas.smoke }),
  z.strictObject({ switch: phaseSchemas.switch }),
  z.strictObject({ verify: phaseSchemas.verify }),
  z.strictObject({ standby: phaseSchemas.standby }),
  z.strictObject({ contract: phaseSchemas.contract }),
  z.strictObject({ exec: phaseSchemas.exec }),
])
export type PhaseEntry = { [K in PhaseKind]: { [P in K]: PhaseConfig<K> } }[PhaseKind]

const lintLevel = z.enum(['off', 'warning', 'error'])
/** Rule levels for the linter (rule ids are checked by the linter, which the plan layer does not import). */
export const LintSettings = z
  .strictObject({
    rules: z
      .record(z.string(), lintLevel)
      .optional()
      .describe('Rule id → off, warning or error, for every file'),
    directories: z
      .record(z.string(), z.record(z.string(), lintLevel))
      .optional()
      .describe('Directory (relative to the plan) → rule levels for the files below it'),
  })
  .describe('The linter’s rule levels, as in .bluegreen-lint.yaml')

export const Plan = z
  .strictObject({
    $schema: z.string().optional(),
    app: slug.describe('Application name: the release lock and the journal are per app'),
    version: Version.optional(),
    database: Database.optional(),
    state: State.optional(),
    loadBalancer: LoadBalancerConfig,
    pools: z.strictObject({ blue: Pool, green: Pool }).describe('The two pools, blue and green'),
    phases: z.array(PhaseEntry).min(1).describe('The release, phase by phase, in order'),
    lint: LintSettings.optional(),
  })
  .describe('A bluegreen release plan')
export type Plan = z.infer<typeof Plan>

/** The kind of a phase entry and its config. */
export function phaseOf(entry: PhaseEntry): { kind: PhaseKind; config: PhaseConfig<PhaseKind> } {
  const [kind] = Object.keys(entry) as [PhaseKind]
  return { kind, config: (entry as Record<PhaseKind, PhaseConfig<PhaseKind>>)[kind] }
}
