/**
 * The plan format's building blocks: durations, versions, commands, pools, HTTP checks, the
 * database and state sections, the linter's levels. Phase and provider definitions compose their
 * own config schemas from these; src/plan/schema.ts assembles the whole plan from the registries.
 * Every object is strict (unknown keys are errors); the JSON Schema is generated from zod.
 */
import * as z from 'zod'
import { poolNames, type PoolName as PoolNameType } from '../pools.js'
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
export const allowEmpty = z
  .boolean()
  .optional()
  .describe('true: accept a directory without any .sql file (otherwise that is a plan error)')

export const PoolName = z.enum(poolNames)
export type PoolName = PoolNameType

export const slug = z
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

export const Expect = z
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

export const TlsOptions = {
  caFile: z.string().optional().describe('PEM CA bundle to verify the pool’s certificate against'),
  insecure: z.boolean().default(false).describe('Skip certificate verification (warns on every run)'),
}

export const SqlExpressions = z
  .record(z.string().min(1), z.string().min(1))
  .refine((map) => Object.keys(map).length > 0, 'give at least one column')
export const SyncDeclaration = z.union([
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

const lintLevel = z.enum(['off', 'warning', 'error'])
/** Rule levels for the linter (rule ids are checked by the linter, which the format layer does not import). */
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

/**
 * The plan's own sections, without the load balancer and the phases (their shapes come from the
 * provider and phase registries). Phases and adapters see the plan through this type.
 */
export const PlanCore = z.strictObject({
  $schema: z.string().optional(),
  app: slug.describe('Application name: the release lock and the journal are per app'),
  version: Version.optional(),
  database: Database.optional(),
  state: State.optional(),
  pools: z.strictObject({ blue: Pool, green: Pool }).describe('The two pools, blue and green'),
  lint: LintSettings.optional(),
})
export type PlanCore = z.infer<typeof PlanCore>

/** A plan as the layers below src/plan/ see it: its own sections, the provider named, the phase entries. */
export interface PlanBase extends PlanCore {
  loadBalancer: { provider: string }
  phases: readonly object[]
}
