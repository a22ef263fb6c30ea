/**
 * The emulator's configuration file (YAML or JSON): one load balancer, its listeners and rules,
 * and target groups with their targets and health checks. Target group names stand in for ARNs
 * here; the emulator derives stable ARNs from the names, so a plan keeps working across restarts.
 */
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { parse as parseYaml } from 'yaml'
import * as z from 'zod'
import { BluegreenError } from '../../errors.js'
import { parseDuration } from '../../format/duration.js'
import { Duration } from '../../format/parts.js'

const name = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/, {
  message: 'use 1-32 letters, digits and hyphens, not starting or ending with a hyphen (as AWS does)',
})

const HostPort = z
  .string()
  .regex(/^(?:[^\s:[\]]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/, {
    message: 'expected host:port, e.g. 127.0.0.1:3001 or [::1]:3001',
  })
  .refine((text) => {
    const port = Number(text.slice(text.lastIndexOf(':') + 1))
    return port >= 1 && port <= 65535
  }, 'the port must be from 1 to 65535')

const HealthCheck = z.strictObject({
  path: z.string().startsWith('/').default('/'),
  interval: Duration.default('30s').describe(
    'Time between checks of each target (AWS: HealthCheckIntervalSeconds, 5s to 300s; shorter with fastHealthChecks)',
  ),
  timeout: Duration.default('5s').describe(
    'AWS: HealthCheckTimeoutSeconds, 2s to 120s and less than the interval (shorter with fastHealthChecks)',
  ),
  healthyThreshold: z.int().min(1).max(10).default(2),
  unhealthyThreshold: z.int().min(1).max(10).default(2),
  matcher: z
    .string()
    .regex(/^\d{3}(?:-\d{3})?(?:,\d{3}(?:-\d{3})?)*$/, {
      message: 'expected codes such as 200, 200-299 or 200,204',
    })
    .default('200'),
})

const TargetGroup = z.strictObject({
  name,
  targetType: z.enum(['ip', 'instance']).default('ip'),
  protocol: z.literal('HTTP').default('HTTP'),
  port: z.int().min(1).max(65535).default(80).describe('Port of targets registered without one'),
  healthCheck: HealthCheck.default(HealthCheck.parse({})),
  deregistrationDelay: Duration.default('0s').describe('How long a deregistered target stays draining'),
  targets: z
    .array(HostPort)
    .default([])
    .describe('ip targets as ip:port; instance targets as instance-id:port (see `instances`)'),
})

const Weighted = z.strictObject({ targetGroup: name, weight: z.int().min(0).max(999).default(1) })

const Action = z.union([
  z.strictObject({
    forward: z.array(Weighted).min(1).max(5),
    stickiness: z.strictObject({ durationSeconds: z.int().min(1).max(604800) }).optional(),
  }),
  z.strictObject({ targetGroup: name }).describe('A plain forward to one target group (TargetGroupArn)'),
  z.strictObject({
    fixedResponse: z.strictObject({
      statusCode: z.int().min(200).max(599),
      contentType: z.string().default('text/plain'),
      body: z.string().default(''),
    }),
  }),
])
export type AlbActionConfig = z.infer<typeof Action>

const Rule = z.strictObject({
  priority: z.int().min(1).max(50000),
  pathPattern: z.array(z.string().min(1)).min(1).optional(),
  hostHeader: z.array(z.string().min(1)).min(1).optional(),
  action: Action,
})

const Listener = z.strictObject({
  port: z.int().min(0).max(65535).describe('0 picks a free port'),
  protocol: z.literal('HTTP').default('HTTP'),
  defaultAction: Action,
  rules: z.array(Rule).default([]),
})

export const AlbConfig = z
  .strictObject({
    region: z.string().min(1).default('us-east-1'),
    accountId: z
      .string()
      .regex(/^\d{12}$/)
      .default('000000000000'),
    loadBalancer: z.strictObject({ name }),
    fastHealthChecks: z
      .boolean()
      .default(false)
      .describe(
        'Allow health-check intervals and timeouts below AWS’s minimums (5s and 2s), down to 50ms and 10ms: for tests and the demo',
      ),
    instances: z
      .record(
        z.string().regex(/^i-[0-9a-f]+$/),
        z.string().refine((ip) => isIP(ip) !== 0, 'expected an IP address'),
      )
      .default({})
      .describe('Instance id → private IP, for target groups of type instance'),
    targetGroups: z.array(TargetGroup).min(1),
    listeners: z.array(Listener).min(1),
  })
  .superRefine((config, ctx) => {
    const groups = new Map(config.targetGroups.map((tg) => [tg.name, tg]))
    if (groups.size !== config.targetGroups.length) {
      ctx.addIssue({ code: 'custom', path: ['targetGroups'], message: 'target group names must be unique' })
    }
    const ports = config.listeners.map((l) => l.port).filter((p) => p !== 0)
    if (new Set(ports).size !== ports.length) {
      ctx.addIssue({ code: 'custom', path: ['listeners'], message: 'listener ports must be unique' })
    }
    const checkAction = (action: AlbActionConfig, path: (string | number)[]): void => {
      const used =
        'forward' in action
          ? action.forward.map((w) => w.targetGroup)
          : 'targetGroup' in action
            ? [action.targetGroup]
            : []
      for (const [i, tg] of used.entries()) {
        if (!groups.has(tg))
          ctx.addIssue({ code: 'custom', path: [...path, i], message: `no target group named ${tg}` })
      }
    }
    config.listeners.forEach((listener, i) => {
      checkAction(listener.defaultAction, ['listeners', i, 'defaultAction'])
      const priorities = new Set<number>()
      listener.rules.forEach((rule, j) => {
        if (priorities.has(rule.priority)) {
          ctx.addIssue({
            code: 'custom',
            path: ['listeners', i, 'rules', j, 'priority'],
            message: 'priority in use',
          })
        }
        priorities.add(rule.priority)
        checkAction(rule.action, ['listeners', i, 'rules', j, 'action'])
      })
    })
    config.targetGroups.forEach((tg, i) => {
      const interval = parseDuration(tg.healthCheck.interval)
      const timeout = parseDuration(tg.healthCheck.timeout)
      const [minInterval, minTimeout] = config.fastHealthChecks ? [50, 10] : [5000, 2000]
      const check = (ok: boolean, key: string, message: string): void => {
        if (!ok) ctx.addIssue({ code: 'custom', path: ['targetGroups', i, 'healthCheck', key], message })
      }
      const fast = config.fastHealthChecks
        ? ''
        : ' (AWS’s bounds; set fastHealthChecks: true for shorter ones in tests)'
      check(
        interval >= minInterval && interval <= 300_000,
        'interval',
        `must be from ${minInterval === 50 ? '50ms' : '5s'} to 300s${fast}`,
      )
      check(
        timeout >= minTimeout && timeout <= 120_000,
        'timeout',
        `must be from ${minTimeout === 10 ? '10ms' : '2s'} to 120s${fast}`,
      )
      check(
        config.fastHealthChecks || timeout < interval,
        'timeout',
        'must be less than the interval, as AWS requires',
      )
      tg.targets.forEach((target, j) => {
        const host = target.slice(0, target.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1')
        const ok = tg.targetType === 'ip' ? isIP(host) !== 0 : host in config.instances
        if (!ok) {
          const message =
            tg.targetType === 'ip'
              ? 'ip targets need an IP address'
              : `instance ${host} is not listed under instances`
          ctx.addIssue({ code: 'custom', path: ['targetGroups', i, 'targets', j], message })
        }
      })
    })
  })

export type AlbConfig = z.infer<typeof AlbConfig>
export type AlbConfigInput = z.input<typeof AlbConfig>

/** Validates a config object; problems become one usage error naming each path. */
export function parseAlbConfig(value: unknown, source = 'emulator config'): AlbConfig {
  const result = AlbConfig.safeParse(value)
  if (result.success) return result.data
  throw new BluegreenError({
    code: 'USAGE',
    message: `${source} is not a valid ALB emulator config`,
    details: result.error.issues.map((issue) => `${issue.path.join('.') || '(top)'}: ${issue.message}`),
    hint: 'see the format in src/local/alb/config.ts or test/fixtures/alb/shop.yaml',
  })
}

/** Reads a YAML or JSON config file. */
export async function loadAlbConfig(file: string): Promise<AlbConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new BluegreenError({
      code: 'USAGE',
      message: `cannot read ${file}: ${(error as Error).message}`,
      hint: 'pass the path of a YAML or JSON emulator config with --config',
      cause: error,
    })
  }
  let value: unknown
  try {
    value = parseYaml(text)
  } catch (error) {
    throw new BluegreenError({
      code: 'USAGE',
      message: `${file} is not valid YAML or JSON: ${(error as Error).message}`,
      hint: 'fix the syntax at the position shown',
      cause: error,
    })
  }
  return parseAlbConfig(value, file)
}
