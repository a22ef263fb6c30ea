/**
 * The aws-elbv2 adapter: switches an Application Load Balancer listener's default action, or one
 * listener rule, between the two pools' target groups.
 *
 * IAM permissions it needs (Describe* support only resource "*"):
 *   elasticloadbalancing:DescribeListeners     (with listenerArn)
 *   elasticloadbalancing:ModifyListener        (with listenerArn; resource: the listener ARN)
 *   elasticloadbalancing:DescribeRules         (with ruleArn)
 *   elasticloadbalancing:ModifyRule            (with ruleArn; resource: the listener-rule ARN)
 *   elasticloadbalancing:DescribeTargetGroups
 *   elasticloadbalancing:DescribeTargetHealth
 *
 * Both pools' target groups stay in one weighted forward action (live 100, inactive 0): ELBv2
 * health-checks only target groups that a listener or rule references, and reports the targets of
 * any other group as `unused` (Target.NotInUse). Kept attached, the inactive pool becomes healthy
 * before it gets traffic, and a switch is a change of weights. Everything else in the action list
 * (authenticate actions, Order, stickiness) is written back as it was read.
 *
 * The AWS SDK is imported inside createAwsElbv2, so `bluegreen --help` never loads it. The adapter
 * uses the client's `send` alone.
 */
import type {
  Action,
  DescribeListenersCommandOutput,
  DescribeRulesCommandOutput,
  DescribeTargetGroupsCommandOutput,
  DescribeTargetHealthCommandOutput,
  TargetGroupTuple,
} from '@aws-sdk/client-elastic-load-balancing-v2'
import { BluegreenError, type ErrorCode } from '../errors.js'
import type { AwsElbv2Config, Plan } from '../plan/schema.js'
import {
  desiredWeights,
  sameTraffic,
  trafficFrom,
  type LoadBalancer,
  type PoolName,
  type ShiftResult,
  type Target,
  type TargetHealth,
  type Traffic,
  type WaitOptions,
} from './types.js'
import { waitForHealthyPool } from './pool-health.js'

type Sdk = typeof import('@aws-sdk/client-elastic-load-balancing-v2')
type Elbv2Command =
  | InstanceType<Sdk['DescribeListenersCommand']>
  | InstanceType<Sdk['DescribeRulesCommand']>
  | InstanceType<Sdk['ModifyListenerCommand']>
  | InstanceType<Sdk['ModifyRuleCommand']>
  | InstanceType<Sdk['DescribeTargetGroupsCommand']>
  | InstanceType<Sdk['DescribeTargetHealthCommand']>

/** The narrow seam: anything that sends ELBv2 commands (the SDK client, or a wrapper of it). */
export interface Elbv2Client {
  send(command: Elbv2Command): Promise<unknown>
}

export interface AwsElbv2Options {
  /** Use this client instead of building one from the config (its owner closes it). */
  client?: Elbv2Client
}

export const iamPermissions = [
  'elasticloadbalancing:DescribeListeners',
  'elasticloadbalancing:ModifyListener',
  'elasticloadbalancing:DescribeRules',
  'elasticloadbalancing:ModifyRule',
  'elasticloadbalancing:DescribeTargetGroups',
  'elasticloadbalancing:DescribeTargetHealth',
] as const

export async function createAwsElbv2(
  config: AwsElbv2Config,
  pools: Plan['pools'],
  options: AwsElbv2Options = {},
): Promise<LoadBalancer> {
  const switched = switchedResource(config)
  const targetGroups = {
    blue: targetGroupOf(pools, 'blue', config.region),
    green: targetGroupOf(pools, 'green', config.region),
  }
  if (targetGroups.blue === targetGroups.green) {
    throw new BluegreenError({
      code: 'LB_CONFIG',
      message: 'both pools use the same target group',
      hint: 'give pools.blue and pools.green each its own targetGroupArn',
    })
  }
  const sdk = await import('@aws-sdk/client-elastic-load-balancing-v2')
  const owned = options.client ? undefined : newClient(sdk, config)
  return new AwsElbv2(sdk, options.client ?? owned!, config, pools, switched, targetGroups, owned)
}

/** Builds the SDK client: standard credential chain, adaptive retries on throttling, bounded waits. */
function newClient(sdk: Sdk, config: AwsElbv2Config): InstanceType<Sdk['ElasticLoadBalancingV2Client']> {
  const env = process.env
  const haveCredentials = Boolean(
    config.profile ||
    env.AWS_ACCESS_KEY_ID ||
    env.AWS_PROFILE ||
    env.AWS_WEB_IDENTITY_TOKEN_FILE ||
    env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ||
    env.AWS_CONTAINER_CREDENTIALS_FULL_URI,
  )
  return new sdk.ElasticLoadBalancingV2Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.profile ? { profile: config.profile } : {}),
    retryMode: 'adaptive',
    maxAttempts: 5,
    // A rollback at 3 a.m. should fail with a message, not hang on a black-holed connection.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 20_000 },
    // A local endpoint (the emulator) does not check signatures; dummy keys keep the SDK from
    // searching for real credentials (and IMDS) when none are configured.
    ...(config.endpoint && !haveCredentials
      ? { credentials: { accessKeyId: 'bluegreen-local', secretAccessKey: 'bluegreen-local' } }
      : {}),
  })
}

interface SwitchedResource {
  kind: 'listener' | 'rule'
  arn: string
  planKey: string
}

function switchedResource(config: AwsElbv2Config): SwitchedResource {
  const resource: SwitchedResource = config.ruleArn
    ? { kind: 'rule', arn: config.ruleArn, planKey: 'loadBalancer.ruleArn' }
    : { kind: 'listener', arn: config.listenerArn ?? '', planKey: 'loadBalancer.listenerArn' }
  checkRegion(resource.arn, config.region, resource.planKey)
  return resource
}

function targetGroupOf(pools: Plan['pools'], pool: PoolName, region: string): string {
  const arn = pools[pool].targetGroupArn
  if (!arn) {
    throw new BluegreenError({
      code: 'LB_CONFIG',
      message: `pools.${pool} has no targetGroupArn`,
      hint: `set pools.${pool}.targetGroupArn to the ARN of the ${pool} pool's target group`,
    })
  }
  checkRegion(arn, region, `pools.${pool}.targetGroupArn`)
  return arn
}

/** The commonest "not found": an ARN from one region used with another. */
function checkRegion(arn: string, region: string, planKey: string): void {
  const arnRegion = arn.split(':')[3]
  if (arnRegion && arnRegion !== region) {
    throw new BluegreenError({
      code: 'LB_CONFIG',
      message: `${planKey} is in region ${arnRegion}, but loadBalancer.region is ${region}`,
      hint: `set loadBalancer.region to ${arnRegion}, or use the ARN from ${region}`,
    })
  }
}

interface Subject {
  /** What the call does, for the message: "reading listener …". */
  doing: string
  /** What a not-found refers to, and where the plan names it. */
  noun: string
  planKey: string
}

class AwsElbv2 implements LoadBalancer {
  readonly provider = 'aws-elbv2' as const
  private readonly targetTypes = new Map<PoolName, string>()

  constructor(
    private readonly sdk: Sdk,
    private readonly client: Elbv2Client,
    private readonly config: AwsElbv2Config,
    private readonly pools: Plan['pools'],
    private readonly switched: SwitchedResource,
    private readonly targetGroups: Record<PoolName, string>,
    private readonly owned?: { destroy(): void },
  ) {}

  describe(): string {
    const resource = this.switched.arn.split(
      this.switched.kind === 'rule' ? ':listener-rule/' : ':listener/',
    )[1]
    const via = this.config.endpoint ? ` via ${this.config.endpoint}` : ''
    return `${this.switched.kind} ${resource ?? this.switched.arn} (${this.config.region}${via})`
  }

  async traffic(): Promise<Traffic> {
    const { actions, index } = await this.readActions()
    return this.trafficOf(actions[index])
  }

  async shift(to: PoolName, weight = 100): Promise<ShiftResult> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
      throw new BluegreenError({
        code: 'USAGE',
        message: `weight must be an integer from 0 to 100, not ${weight}`,
      })
    }
    const { actions, index } = await this.readActions()
    const before = this.trafficOf(actions[index])
    const desired = desiredWeights(to, weight)
    // Idempotent: the right split with both groups attached needs no write. A plain forward to
    // one pool is converted even when the split is right, so the other pool gets health-checked.
    if (this.bothAttached(actions[index]) && sameTraffic(before, trafficFrom(desired))) {
      return { changed: false, before, after: before }
    }
    await this.writeActions(this.withWeights(actions, index, desired))
    const after = await this.verify(desired)
    return { changed: true, before, after }
  }

  async targets(pool: PoolName): Promise<Target[]> {
    const arn = this.targetGroups[pool]
    const subject = {
      doing: `reading the health of the ${pool} pool's targets`,
      noun: 'target group',
      planKey: `pools.${pool}.targetGroupArn`,
    }
    const [type, health] = await Promise.all([
      this.targetType(pool),
      this.call<DescribeTargetHealthCommandOutput>(
        new this.sdk.DescribeTargetHealthCommand({ TargetGroupArn: arn }),
        subject,
      ),
    ])
    const descriptions = (health.TargetHealthDescriptions ?? [])
      .map((d) => ({
        id: d.Target?.Id ?? '',
        port: d.Target?.Port ?? 0,
        health: targetHealth(d.TargetHealth?.State),
        reason: [d.TargetHealth?.Reason, d.TargetHealth?.Description].filter(Boolean).join(': ') || undefined,
      }))
      .sort((a, b) => (a.id === b.id ? a.port - b.port : a.id < b.id ? -1 : 1))
    if (type === 'ip') return descriptions.map((d) => ({ ...d, address: d.id }))
    if (type !== 'instance') {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `the ${pool} pool's target group has targets of type ${type}; bluegreen supports ip and instance`,
        hint: `point pools.${pool}.targetGroupArn at a target group of type ip or instance`,
      })
    }
    return this.withPlanAddresses(pool, descriptions)
  }

  async waitHealthy(pool: PoolName, options: WaitOptions): Promise<Target[]> {
    // A pool that the listener does not reference is never health-checked (its targets stay
    // `unused`), so it is attached first, at weight 0: no traffic moves.
    await this.attach(pool)
    // Targets leaving the group (draining) do not hold up a pool whose new targets are healthy.
    const read = async (): Promise<Target[]> =>
      (await this.targets(pool)).filter((t) => t.health !== 'draining')
    const group = this.targetGroups[pool].split(':targetgroup/')[1] ?? this.targetGroups[pool]
    return waitForHealthyPool(read, pool, options, (targets) =>
      targets.length === 0
        ? `register the ${pool} pool's targets in its target group ${group} (the deploy command should do it)`
        : `check that each target answers target group ${group}'s health check; the reasons above are ELBv2's own`,
    )
  }

  close(): Promise<void> {
    this.owned?.destroy()
    return Promise.resolve()
  }

  /** The switched action list, and the index of its forward action. */
  private async readActions(): Promise<{ actions: Action[]; index: number }> {
    const subject = {
      doing: `reading ${this.switched.kind} ${this.switched.arn}`,
      noun: this.switched.kind,
      planKey: this.switched.planKey,
    }
    let actions: Action[] | undefined
    if (this.switched.kind === 'listener') {
      const out = await this.call<DescribeListenersCommandOutput>(
        new this.sdk.DescribeListenersCommand({ ListenerArns: [this.switched.arn] }),
        subject,
      )
      actions = out.Listeners?.[0]?.DefaultActions
    } else {
      const out = await this.call<DescribeRulesCommandOutput>(
        new this.sdk.DescribeRulesCommand({ RuleArns: [this.switched.arn] }),
        subject,
      )
      const rule = out.Rules?.[0]
      if (rule?.IsDefault) {
        throw new BluegreenError({
          code: 'LB_CONFIG',
          message: `${this.switched.arn} is a listener's default rule, which ModifyRule cannot change`,
          hint: 'set loadBalancer.listenerArn to the listener instead of ruleArn',
        })
      }
      actions = rule?.Actions
    }
    if (!actions) {
      throw new BluegreenError({
        code: 'LB_NOT_FOUND',
        message: `${this.switched.kind} ${this.switched.arn} was not returned by ELBv2`,
        hint: `check ${this.switched.planKey} and loadBalancer.region`,
      })
    }
    const sorted = [...actions].sort((a, b) => (a.Order ?? 0) - (b.Order ?? 0))
    const index = sorted.findIndex((a) => a.Type === 'forward')
    if (index < 0) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `${this.describe()} does not forward to a target group (its actions: ${sorted.map((a) => a.Type).join(', ')})`,
        hint: `make its action a forward to pools.blue/green's target groups, e.g. aws elbv2 modify-listener --default-actions Type=forward,TargetGroupArn=${this.targetGroups.blue}`,
      })
    }
    return { actions: sorted, index }
  }

  private async writeActions(actions: Action[]): Promise<void> {
    const subject = {
      doing: `changing ${this.switched.kind} ${this.switched.arn}`,
      noun: this.switched.kind,
      planKey: this.switched.planKey,
    }
    if (this.switched.kind === 'listener') {
      await this.call(
        new this.sdk.ModifyListenerCommand({ ListenerArn: this.switched.arn, DefaultActions: actions }),
        subject,
      )
    } else {
      await this.call(
        new this.sdk.ModifyRuleCommand({ RuleArn: this.switched.arn, Actions: actions }),
        subject,
      )
    }
  }

  /** Reads the change back; ELBv2 has no conditional write, so a concurrent change shows here. */
  private async verify(desired: Record<PoolName, number>): Promise<Traffic> {
    let seen = new Map<string, number>()
    for (let attempt = 1; attempt <= 3; attempt++) {
      const { actions, index } = await this.readActions()
      seen = weightsOf(actions[index])
      if (
        seen.get(this.targetGroups.blue) === desired.blue &&
        seen.get(this.targetGroups.green) === desired.green
      ) {
        return this.trafficOf(actions[index])
      }
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt))
    }
    throw new BluegreenError({
      code: 'LB_VERIFY_FAILED',
      message: `${this.describe()} did not keep the weights just written (blue ${desired.blue}, green ${desired.green})`,
      details: [
        `read back: ${[...seen].map(([arn, w]) => `${arn.split(':targetgroup/')[1] ?? arn}=${w}`).join(', ')}`,
      ],
      hint: 'someone or something else (a console edit, IaC drift correction) may be changing the same listener; run `bluegreen status` and switch again',
    })
  }

  private async attach(pool: PoolName): Promise<void> {
    const { actions, index } = await this.readActions()
    if (weightsOf(actions[index]).has(this.targetGroups[pool])) return
    const current = this.trafficOf(actions[index])
    await this.writeActions(this.withWeights(actions, index, current.weights))
    await this.verify(current.weights)
  }

  private bothAttached(forward: Action): boolean {
    const groups = forward.ForwardConfig?.TargetGroups?.map((t) => t.TargetGroupArn) ?? []
    return groups.includes(this.targetGroups.blue) && groups.includes(this.targetGroups.green)
  }

  private trafficOf(forward: Action): Traffic {
    const weights = weightsOf(forward)
    const foreign = [...weights].filter(
      ([arn, w]) => w > 0 && arn !== this.targetGroups.blue && arn !== this.targetGroups.green,
    )
    if (foreign.length > 0) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `${this.describe()} sends traffic to a target group of neither pool: ${foreign.map(([arn]) => arn).join(', ')}`,
        hint: 'set pools.blue/green.targetGroupArn to the groups the listener forwards to, or set that group’s weight to 0',
      })
    }
    const blue = weights.get(this.targetGroups.blue) ?? 0
    const green = weights.get(this.targetGroups.green) ?? 0
    if (blue + green === 0) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `${this.describe()} forwards no traffic to either pool (both weights are 0 or absent)`,
        hint: 'give the live pool’s target group weight 100 in the forward action (console or aws elbv2 modify-listener)',
      })
    }
    return trafficFrom({ blue, green })
  }

  /**
   * A copy of the action list in which the forward action holds both pools with the given weights.
   * Other groups (weight 0), stickiness, Order and the other actions stay as they were.
   */
  private withWeights(actions: Action[], index: number, weights: Record<PoolName, number>): Action[] {
    return actions.map((action, i) => {
      if (i !== index) return writable(action)
      const others: TargetGroupTuple[] = [...weightsOf(action)]
        .filter(([arn]) => arn !== this.targetGroups.blue && arn !== this.targetGroups.green)
        .map(([arn, weight]) => ({ TargetGroupArn: arn, Weight: weight }))
      const forward: Action = {
        ...action,
        ForwardConfig: {
          ...action.ForwardConfig,
          TargetGroups: [
            { TargetGroupArn: this.targetGroups.blue, Weight: weights.blue },
            { TargetGroupArn: this.targetGroups.green, Weight: weights.green },
            ...others,
          ],
        },
      }
      // With several groups ELBv2 accepts only ForwardConfig; TargetGroupArn would be rejected.
      delete forward.TargetGroupArn
      return forward
    })
  }

  private async targetType(pool: PoolName): Promise<string> {
    const cached = this.targetTypes.get(pool)
    if (cached) return cached
    const out = await this.call<DescribeTargetGroupsCommandOutput>(
      new this.sdk.DescribeTargetGroupsCommand({ TargetGroupArns: [this.targetGroups[pool]] }),
      {
        doing: `reading the ${pool} pool's target group`,
        noun: 'target group',
        planKey: `pools.${pool}.targetGroupArn`,
      },
    )
    const type = out.TargetGroups?.[0]?.TargetType ?? 'unknown'
    this.targetTypes.set(pool, type)
    return type
  }

  /** Instance targets carry no address; the plan lists them, in the order of the instance ids. */
  private withPlanAddresses(pool: PoolName, targets: Omit<Target, 'address'>[]): Target[] {
    const addresses = this.pools[pool].addresses
    if (!addresses || addresses.length !== targets.length) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: addresses
          ? `the ${pool} pool has ${targets.length} instance targets but pools.${pool}.addresses lists ${addresses.length}`
          : `the ${pool} pool's target group has instance targets, whose addresses ELBv2 does not report`,
        details: targets.map((t) => `${t.id}:${t.port}`),
        hint: `set pools.${pool}.addresses to host:port of each instance, in the order of the instance ids above`,
      })
    }
    return targets.map((t, i) => {
      const at = addresses[i].lastIndexOf(':')
      return { ...t, address: addresses[i].slice(0, at), port: Number(addresses[i].slice(at + 1)) }
    })
  }

  private async call<T>(command: Elbv2Command, subject: Subject): Promise<T> {
    try {
      return (await this.client.send(command)) as T
    } catch (error) {
      throw toBluegreenError(error, subject, this.config)
    }
  }
}

/** Target group ARN → weight of a forward action; a plain TargetGroupArn counts as weight 1. */
function weightsOf(forward: Action): Map<string, number> {
  const weights = new Map<string, number>()
  const tuples = forward.ForwardConfig?.TargetGroups ?? []
  for (const tuple of tuples) if (tuple.TargetGroupArn) weights.set(tuple.TargetGroupArn, tuple.Weight ?? 1)
  if (tuples.length === 0 && forward.TargetGroupArn) weights.set(forward.TargetGroupArn, 1)
  return weights
}

/**
 * An action as read, made fit to send back. ELBv2 never returns an OIDC action's client secret,
 * and a modify without one fails unless it asks to keep the existing secret.
 */
function writable(action: Action): Action {
  if (action.Type !== 'authenticate-oidc' || !action.AuthenticateOidcConfig) return action
  return {
    ...action,
    AuthenticateOidcConfig: { ...action.AuthenticateOidcConfig, UseExistingClientSecret: true },
  }
}

const healthStates = new Set<string>(['healthy', 'unhealthy', 'initial', 'draining', 'unused', 'unavailable'])
function targetHealth(state: string | undefined): TargetHealth {
  return state && healthStates.has(state) ? (state as TargetHealth) : 'unknown'
}

const notFound = new Set([
  'ListenerNotFoundException',
  'RuleNotFoundException',
  'TargetGroupNotFoundException',
  'LoadBalancerNotFoundException',
])
const denied = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'AuthFailure',
])
const throttled = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'PriorRequestNotCompleteException',
])
const network = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
])

interface SdkError extends Error {
  code?: string
  $fault?: 'client' | 'server'
  $metadata?: { httpStatusCode?: number; requestId?: string }
}

/** Turns SDK and network errors into errors a user can act on; anything else stays a bug. */
function toBluegreenError(error: unknown, subject: Subject, config: AwsElbv2Config): unknown {
  if (!(error instanceof Error) || error instanceof BluegreenError) return error
  const e = error as SdkError
  const where = `${config.region}${config.profile ? `, profile ${config.profile}` : ''}${config.endpoint ? `, endpoint ${config.endpoint}` : ''}`
  const make = (code: ErrorCode, message: string, hint: string): BluegreenError =>
    new BluegreenError({
      code,
      message: `${message} while ${subject.doing}`,
      details: [
        `AWS: ${e.name}: ${e.message}${e.$metadata?.requestId ? ` (request id ${e.$metadata.requestId})` : ''}`,
      ],
      hint,
      cause: error,
    })
  if (notFound.has(e.name)) {
    // A forward to a target group that is gone fails the listener write: name the pools, not the listener.
    const group = e.name === 'TargetGroupNotFoundException' && subject.noun !== 'target group'
    return make(
      'LB_NOT_FOUND',
      `${group ? 'a target group' : `the ${subject.noun}`} does not exist (${where})`,
      `check ${group ? 'pools.blue.targetGroupArn and pools.green.targetGroupArn' : subject.planKey} in the plan, and that loadBalancer.region and the AWS account of your credentials (profile) are the ones it lives in`,
    )
  }
  if (e.name === 'CredentialsProviderError') {
    return make(
      'LB_ACCESS_DENIED',
      'no AWS credentials were found',
      'set loadBalancer.profile or AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or log in with `aws sso login`',
    )
  }
  if (denied.has(e.name) || e.$metadata?.httpStatusCode === 403) {
    return make(
      'LB_ACCESS_DENIED',
      `AWS refused the request (${where})`,
      `check the profile/credentials in use, and grant their IAM policy: ${iamPermissions.join(', ')}`,
    )
  }
  if (throttled.has(e.name)) {
    return make(
      'LB_THROTTLED',
      'the ELBv2 API kept throttling after adaptive retries',
      'another tool may be calling the ELBv2 API heavily in this account and region; wait a minute and run the command again',
    )
  }
  const unreachable =
    (e.code !== undefined && network.has(e.code)) ||
    e.name === 'TimeoutError' ||
    e.name === 'RequestTimeout' ||
    e.$fault === 'server' ||
    (e.$metadata?.httpStatusCode ?? 0) >= 500
  if (unreachable) {
    return make(
      'LB_UNREACHABLE',
      `the ELBv2 API could not be reached or failed (${where})`,
      config.endpoint
        ? `check that ${config.endpoint} is up (for the local emulator: bluegreen local alb --config …)`
        : 'check network access to elasticloadbalancing.' +
            config.region +
            '.amazonaws.com and the AWS Health Dashboard, then run the command again',
    )
  }
  if (e.$metadata !== undefined || e.$fault === 'client') {
    return make(
      'LB_CONFIG',
      `ELBv2 rejected the request (${where})`,
      `check ${subject.planKey} and the listener's actions in the console; the AWS message above says what it refused`,
    )
  }
  return error
}
