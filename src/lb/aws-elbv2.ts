/**
 * The aws-elbv2 adapter: switches an Application Load Balancer listener's default action, or one
 * listener rule, between the two pools' target groups.
 *
 * The IAM permissions it needs are listed once, in `iamPermissions` below.
 *
 * Both pools' target groups stay in one weighted forward action (live 100, inactive 0): ELBv2
 * health-checks only target groups that a listener or rule references, and reports the targets of
 * any other group as `unused` (Target.NotInUse). Kept attached, the inactive pool becomes healthy
 * before it gets traffic, and a switch is a change of weights. Everything else in the action list
 * (authenticate actions, Order, stickiness) is written back as it was read.
 *
 * Weights are compared as ELBv2 stores them (0–999): 995/5 is a split, and a shift to 100% writes
 * to end it. Percentages are for display only.
 *
 * ELBv2's API is eventually consistent: a Describe right after a Modify may still show the old
 * actions (Terraform's AWS provider retries such reads for a minute). A switch checks the Modify
 * response, which holds the new actions, then reads back for up to `consistencyTimeout` (10 s).
 *
 * Group stickiness (ForwardConfig.TargetGroupStickinessConfig) routes a client holding the
 * AWSALBTG cookie to the same target group for DurationSeconds, whatever the weights say. See the
 * AWS docs: "Target group stickiness" under Forward actions,
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-action-types.html#forward-actions,
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetGroupStickinessConfig.html
 * and https://docs.aws.amazon.com/prescriptive-guidance/latest/load-balancer-stickiness/target-group-stickiness.html.
 * So a rollback (`stickyClients: 'move'`, the default at 100%) turns group stickiness off in the
 * same ModifyListener/ModifyRule write: ELBv2 then ignores the cookies and every client follows the
 * weights. A forward switch (`stay`) keeps it, and says how long sticky clients may stay behind.
 *
 * The AWS SDKs are imported inside the functions that need them, so `bluegreen --help` never loads
 * them. The adapter uses the clients' `send` alone.
 */
import type {
  Action,
  DescribeListenersCommandOutput,
  DescribeRulesCommandOutput,
  DescribeTargetGroupsCommandOutput,
  DescribeTargetHealthCommandOutput,
  ModifyListenerCommandOutput,
  ModifyRuleCommandOutput,
  TargetGroupStickinessConfig,
  TargetGroupTuple,
} from '@aws-sdk/client-elastic-load-balancing-v2'
import type { DescribeInstancesCommand, DescribeInstancesCommandOutput } from '@aws-sdk/client-ec2'
import { parseHostPort } from '../format/host-port.js'
import { BluegreenError, type ErrorCode } from '../errors.js'
import { awsClientSettings } from '../aws-client.js'
import { formatDuration, parseDuration } from '../format/duration.js'
import type { PlanCore } from '../format/parts.js'
import {
  desiredWeights,
  otherPool,
  type LoadBalancer,
  type PoolName,
  type ShiftOptions,
  type ShiftResult,
  type Stickiness,
  type Target,
  type TargetHealth,
  type Traffic,
  type WaitOptions,
} from './types.js'
import { waitForHealthyPool } from './pool-health.js'
import { sleep } from '../sleep.js'

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

/** The EC2 seam, for the private IPs of instance targets. */
export interface Ec2Client {
  send(command: DescribeInstancesCommand): Promise<unknown>
}

export interface AwsElbv2Options {
  /** Use this client instead of building one from the config (its owner closes it). */
  client?: Elbv2Client
  /** Use this EC2 client instead of building one when instance targets need addresses. */
  ec2Client?: Ec2Client
}

/** The IAM permissions the adapter needs, and when (Describe* support only resource "*"). */
export const iamPermissions = [
  { action: 'elasticloadbalancing:DescribeListeners', when: 'with listenerArn' },
  { action: 'elasticloadbalancing:ModifyListener', when: 'with listenerArn; resource: the listener ARN' },
  { action: 'elasticloadbalancing:DescribeRules', when: 'with ruleArn' },
  { action: 'elasticloadbalancing:ModifyRule', when: 'with ruleArn; resource: the listener-rule ARN' },
  { action: 'elasticloadbalancing:DescribeTargetGroups', when: 'always' },
  { action: 'elasticloadbalancing:DescribeTargetHealth', when: 'always' },
  {
    action: 'ec2:DescribeInstances',
    when: 'target groups of type instance, unless the plan lists addresses',
  },
] as const

const defaultConsistencyTimeout = '10s'

/** What the adapter reads of `loadBalancer:` (its schema is in providers/aws-elbv2.ts). */
export interface AwsElbv2Config {
  region: string
  listenerArn?: string
  ruleArn?: string
  endpoint?: string
  profile?: string
  consistencyTimeout?: string
  stickiness?: { duration: string }
}

export async function createAwsElbv2(
  config: AwsElbv2Config,
  pools: PlanCore['pools'],
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
  return new AwsElbv2(
    sdk,
    options.client ?? owned!,
    config,
    pools,
    switched,
    targetGroups,
    owned,
    options.ec2Client,
  )
}

/** The settings both SDK clients share (src/aws-client.ts); a rollback at 3 a.m. fails with a message. */
function clientSettings(config: AwsElbv2Config) {
  return awsClientSettings(config, { maxAttempts: 5, connectionTimeout: 5_000, requestTimeout: 20_000 })
}

function newClient(sdk: Sdk, config: AwsElbv2Config): InstanceType<Sdk['ElasticLoadBalancingV2Client']> {
  return new sdk.ElasticLoadBalancingV2Client(clientSettings(config))
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

function targetGroupOf(pools: PlanCore['pools'], pool: PoolName, region: string): string {
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
  private ec2?: { client: Ec2Client; sdk: typeof import('@aws-sdk/client-ec2'); owned?: { destroy(): void } }

  constructor(
    private readonly sdk: Sdk,
    private readonly client: Elbv2Client,
    private readonly config: AwsElbv2Config,
    private readonly pools: PlanCore['pools'],
    private readonly switched: SwitchedResource,
    private readonly targetGroups: Record<PoolName, string>,
    private readonly owned?: { destroy(): void },
    private readonly ec2Client?: Ec2Client,
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

  async shift(to: PoolName, weight = 100, options: ShiftOptions = {}): Promise<ShiftResult> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
      throw new BluegreenError({
        code: 'USAGE',
        message: `weight must be an integer from 0 to 100, not ${weight}`,
      })
    }
    const { actions, index } = await this.readActions()
    const forward = actions[index]
    const before = this.trafficOf(forward)
    const desired = desiredWeights(to, weight)
    const sticky = stickinessOf(forward)
    const plan = this.plannedStickiness()
    const moveEveryone = (options.stickyClients ?? (weight === 100 ? 'move' : 'stay')) === 'move'
    // Stickiness to write: off when every client must move (a rollback); the plan's when a forward
    // switch finds it off (a rollback turned it off); otherwise as it is.
    const stickiness: TargetGroupStickinessConfig | undefined =
      moveEveryone && weight === 100 && sticky
        ? { Enabled: false }
        : !moveEveryone && !sticky && plan
          ? { Enabled: true, DurationSeconds: plan }
          : undefined
    // Idempotent on the raw weights: the same ratio with both groups attached needs no write. A
    // plain forward to one pool is converted even then, so the other pool gets health-checked.
    if (this.bothAttached(forward) && sameRatio(this.rawWeights(forward), desired) && !stickiness) {
      return { changed: false, before, after: before }
    }
    const written = this.withWeights(actions, index, desired, stickiness)
    const response = await this.writeActions(written)
    const after = await this.verify(desired, stickiness, this.rawWeights(forward), response)
    const notes = this.shiftNotes(to, weight, before, after, stickiness)
    return { changed: true, before, after, ...(notes.length > 0 ? { notes } : {}) }
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
    if (this.pools[pool].addresses) return this.withPlanAddresses(pool, descriptions)
    return this.withInstanceAddresses(pool, descriptions)
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
        : `check that each target answers target group ${group}'s health check; the reasons given per target are ELBv2's own`,
    )
  }

  close(): Promise<void> {
    this.owned?.destroy()
    this.ec2?.owned?.destroy()
    return Promise.resolve()
  }

  private subject(doing: string): Subject {
    return {
      doing: `${doing} ${this.switched.kind} ${this.switched.arn}`,
      noun: this.switched.kind,
      planKey: this.switched.planKey,
    }
  }

  /** The switched action list, and the index of its forward action. */
  private async readActions(): Promise<{ actions: Action[]; index: number }> {
    const subject = this.subject('reading')
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
    return this.forwardIn(actions)
  }

  private forwardIn(actions: Action[] | undefined): { actions: Action[]; index: number } {
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

  /** Writes the action list; resolves with the actions as the Modify response describes them. */
  private async writeActions(actions: Action[]): Promise<Action[] | undefined> {
    const subject = this.subject('changing')
    if (this.switched.kind === 'listener') {
      const out = await this.call<ModifyListenerCommandOutput>(
        new this.sdk.ModifyListenerCommand({ ListenerArn: this.switched.arn, DefaultActions: actions }),
        subject,
      )
      return out?.Listeners?.[0]?.DefaultActions
    }
    const out = await this.call<ModifyRuleCommandOutput>(
      new this.sdk.ModifyRuleCommand({ RuleArn: this.switched.arn, Actions: actions }),
      subject,
    )
    return out?.Rules?.[0]?.Actions
  }

  /**
   * Confirms the write. The Modify response holds the actions ELBv2 stored, so a response without
   * our weights is a failure at once. Describe is eventually consistent: it may show the previous
   * actions for a while, so it is polled for up to consistencyTimeout. ELBv2 has no conditional
   * write, so a concurrent change shows here too: as a third state at once, or as the old one
   * that never goes away.
   */
  private async verify(
    desired: Record<PoolName, number>,
    stickiness: TargetGroupStickinessConfig | undefined,
    before: Record<PoolName, number>,
    response: Action[] | undefined,
  ): Promise<Traffic> {
    const matches = (forward: Action): boolean => {
      const raw = this.rawWeights(forward)
      if (raw.blue !== desired.blue || raw.green !== desired.green) return false
      return !stickiness || Boolean(stickinessOf(forward)) === Boolean(stickiness.Enabled)
    }
    let seen: Action | undefined
    if (response) {
      const { actions, index } = this.forwardIn(response)
      seen = actions[index]
      if (!matches(seen)) throw this.verifyFailed(desired, seen, 'the ModifyListener/ModifyRule response')
    }
    const timeoutMs = parseDuration(this.config.consistencyTimeout ?? defaultConsistencyTimeout)
    const deadline = Date.now() + timeoutMs
    for (let attempt = 1; ; attempt++) {
      const { actions, index } = await this.readActions()
      seen = actions[index]
      if (matches(seen)) return this.trafficOf(seen)
      const raw = this.rawWeights(seen)
      const stale = sameRatio(raw, before)
      if (!stale) throw this.verifyFailed(desired, seen, 'a read-back (someone else changed it)')
      const wait = Math.min(200 * attempt, 1000, deadline - Date.now())
      if (wait <= 0) break
      await sleep(wait)
    }
    throw this.verifyFailed(
      desired,
      seen,
      `read-backs for ${formatDuration(timeoutMs)} (loadBalancer.consistencyTimeout)`,
    )
  }

  private verifyFailed(desired: Record<PoolName, number>, seen: Action, where: string): BluegreenError {
    return new BluegreenError({
      code: 'LB_VERIFY_FAILED',
      message: `${this.describe()} did not keep the weights just written (blue ${desired.blue}, green ${desired.green})`,
      details: [
        `${where} showed: ${[...weightsOf(seen)].map(([arn, w]) => `${arn.split(':targetgroup/')[1] ?? arn}=${w}`).join(', ')}`,
      ],
      hint: 'someone or something else (a console edit, IaC drift correction) may be changing the same listener; run `bluegreen status` and switch again',
    })
  }

  private async attach(pool: PoolName): Promise<void> {
    const { actions, index } = await this.readActions()
    if (weightsOf(actions[index]).has(this.targetGroups[pool])) return
    const current = this.trafficOf(actions[index])
    const raw = this.rawWeights(actions[index])
    // A split keeps its raw weights; one pool alone (a plain forward counts 1) becomes 100/0.
    const weights = current.split ? raw : desiredWeights(current.live)
    const response = await this.writeActions(this.withWeights(actions, index, weights))
    await this.verify(weights, undefined, raw, response)
  }

  private bothAttached(forward: Action): boolean {
    const groups = forward.ForwardConfig?.TargetGroups?.map((t) => t.TargetGroupArn) ?? []
    return groups.includes(this.targetGroups.blue) && groups.includes(this.targetGroups.green)
  }

  private rawWeights(forward: Action): Record<PoolName, number> {
    const weights = weightsOf(forward)
    return {
      blue: weights.get(this.targetGroups.blue) ?? 0,
      green: weights.get(this.targetGroups.green) ?? 0,
    }
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
    const raw = this.rawWeights(forward)
    if (raw.blue + raw.green === 0) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `${this.describe()} forwards no traffic to either pool (both weights are 0 or absent)`,
        hint: 'give the live pool’s target group weight 100 in the forward action (console or aws elbv2 modify-listener)',
      })
    }
    const traffic = trafficFromRaw(raw)
    const sticky = stickinessOf(forward)
    return sticky ? { ...traffic, stickiness: sticky } : traffic
  }

  /** What a person should know about a shift beyond its weights: stickiness, mostly. */
  private shiftNotes(
    to: PoolName,
    weight: number,
    before: Traffic,
    after: Traffic,
    written: TargetGroupStickinessConfig | undefined,
  ): string[] {
    const from = otherPool(to)
    const notes: string[] = []
    const restore = this.plannedStickiness()
    if (written && !written.Enabled && before.stickiness) {
      const seconds = before.stickiness.durationSeconds
      notes.push(
        `group stickiness (${formatDuration(seconds * 1000)}) turned off in the same write, so every client goes to ${to}, ` +
          `those holding a stickiness cookie for ${from} too`,
        restore
          ? `the next forward switch turns group stickiness on again (loadBalancer.stickiness: ${formatDuration(restore * 1000)})`
          : `group stickiness stays off until you turn it on again (console, IaC, or loadBalancer.stickiness in the plan so the next switch does); ` +
              `doing so before ${new Date(Date.now() + seconds * 1000).toISOString()} lets clients still holding a ${from} cookie back onto ${from}`,
      )
    } else if (written?.Enabled) {
      notes.push(
        `group stickiness turned on again (${formatDuration(restore! * 1000)}), as loadBalancer.stickiness says`,
      )
    }
    if (after.stickiness && weight > 0 && after.weights[from] === 0) {
      notes.push(
        `group stickiness is on: clients holding a stickiness cookie for ${from} may stay on ${from} for up to ${formatDuration(after.stickiness.durationSeconds * 1000)} ` +
          `after their last request there (one that stops now: until ${new Date(Date.now() + after.stickiness.durationSeconds * 1000).toISOString()}); ` +
          `a rollback moves them`,
      )
    } else if (after.stickiness && after.split) {
      notes.push(
        `group stickiness is on (${formatDuration(after.stickiness.durationSeconds * 1000)}): the weights apply to clients without a stickiness cookie; the others stay on their pool`,
      )
    }
    return notes
  }

  private plannedStickiness(): number | undefined {
    const duration = this.config.stickiness?.duration
    return duration === undefined
      ? undefined
      : Math.min(604800, Math.max(1, Math.round(parseDuration(duration) / 1000)))
  }

  /**
   * A copy of the action list in which the forward action holds both pools with the given weights.
   * Other groups (weight 0), Order and the other actions stay as they were; stickiness too, unless
   * `stickiness` says otherwise.
   */
  private withWeights(
    actions: Action[],
    index: number,
    weights: Record<PoolName, number>,
    stickiness?: TargetGroupStickinessConfig,
  ): Action[] {
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
          ...(stickiness ? { TargetGroupStickinessConfig: stickiness } : {}),
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

  /** The plan's addresses override EC2's: listed in the order of the instance ids. */
  private withPlanAddresses(pool: PoolName, targets: Omit<Target, 'address'>[]): Target[] {
    const addresses = this.pools[pool].addresses ?? []
    if (addresses.length !== targets.length) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `the ${pool} pool has ${targets.length} instance targets but pools.${pool}.addresses lists ${addresses.length}`,
        details: targets.map((t) => `${t.id}:${t.port}`),
        hint: `set pools.${pool}.addresses to host:port of each instance, in the order of the instance ids listed in the details, or remove it to read the private IPs from EC2`,
      })
    }
    return targets.map((t, i) => ({ ...t, ...parseHostPort(addresses[i]) }))
  }

  /** Instance targets carry no address in ELBv2: each instance's private IP comes from EC2. */
  private async withInstanceAddresses(pool: PoolName, targets: Omit<Target, 'address'>[]): Promise<Target[]> {
    if (targets.length === 0) return []
    const ec2 = await this.ec2Seam()
    const ids = [...new Set(targets.map((t) => t.id))]
    const subject = {
      doing: `reading the private IPs of the ${pool} pool's instances from EC2`,
      noun: 'instance',
      planKey: `pools.${pool}.addresses`,
    }
    let out: DescribeInstancesCommandOutput
    try {
      out = (await ec2.client.send(
        new ec2.sdk.DescribeInstancesCommand({ InstanceIds: ids }),
      )) as DescribeInstancesCommandOutput
    } catch (error) {
      const e = error as SdkError
      if (e.name?.startsWith('InvalidInstanceID')) {
        throw new BluegreenError({
          code: 'LB_NOT_FOUND',
          message: `EC2 does not know some of the ${pool} pool's instance targets (${ids.join(', ')})`,
          details: [`AWS: ${e.name}: ${e.message}`],
          hint: `deregister terminated instances from the ${pool} pool's target group, or set pools.${pool}.addresses`,
          cause: error,
        })
      }
      throw toBluegreenError(error, subject, this.config)
    }
    const ips = new Map<string, string>()
    for (const reservation of out.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) {
        const ip = instance.PrivateIpAddress ?? instance.Ipv6Address
        if (instance.InstanceId && ip) ips.set(instance.InstanceId, ip)
      }
    }
    const missing = ids.filter((id) => !ips.has(id))
    if (missing.length > 0) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `EC2 gave no private IP for the ${pool} pool's instances ${missing.join(', ')}`,
        hint: `check that they are running (a stopped instance has no private IP), or set pools.${pool}.addresses`,
      })
    }
    return targets.map((t) => ({ ...t, address: ips.get(t.id)! }))
  }

  private async ec2Seam(): Promise<NonNullable<AwsElbv2['ec2']>> {
    if (this.ec2) return this.ec2
    const sdk = await import('@aws-sdk/client-ec2')
    if (this.ec2Client) return (this.ec2 = { client: this.ec2Client, sdk })
    const owned = new sdk.EC2Client(clientSettings(this.config))
    return (this.ec2 = { client: owned, sdk, owned })
  }

  private async call<T>(command: Elbv2Command, subject: Subject): Promise<T> {
    try {
      return (await this.client.send(command)) as T
    } catch (error) {
      throw toBluegreenError(error, subject, this.config)
    }
  }
}

/** Traffic from raw ELBv2 weights: any weight above 0 is a share (at least 1%), and a split. */
function trafficFromRaw(raw: Record<PoolName, number>): Traffic {
  const total = raw.blue + raw.green
  let blue = Math.round((raw.blue * 100) / total)
  if (raw.blue > 0 && raw.green > 0) blue = Math.min(99, Math.max(1, blue))
  const weights = { blue, green: 100 - blue }
  const live: PoolName = raw.green > raw.blue ? 'green' : 'blue'
  return { live, weights, split: raw.blue > 0 && raw.green > 0 }
}

/** Same ratio of raw weights (200/0 is 100/0; 995/5 is not). */
function sameRatio(a: Record<PoolName, number>, b: Record<PoolName, number>): boolean {
  return a.blue * b.green === a.green * b.blue && a.blue > 0 === b.blue > 0 && a.green > 0 === b.green > 0
}

function stickinessOf(forward: Action): Stickiness | undefined {
  const config = forward.ForwardConfig?.TargetGroupStickinessConfig
  return config?.Enabled ? { enabled: true, durationSeconds: config.DurationSeconds ?? 0 } : undefined
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
      `check the profile/credentials in use, and grant their IAM policy: ${iamPermissions.map((p) => p.action).join(', ')}`,
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
      `check ${subject.planKey} and the listener's actions in the console; the AWS message in the details says what it refused`,
    )
  }
  return error
}

/** What `bluegreen init --listener-arn` learns from a listener: read-only, one or two calls. */
export interface ListenerPools {
  region: string
  blue: string
  green: string
}

/**
 * The two target groups of a listener's default forward action, as blue and green: by name
 * when their names say blue and green, otherwise in the action's order.
 */
export async function describeListenerPools(
  listenerArn: string,
  config: Pick<AwsElbv2Config, 'endpoint' | 'profile'> & { region?: string },
): Promise<ListenerPools> {
  const region = config.region ?? /^arn:[^:]+:elasticloadbalancing:([^:]+):/.exec(listenerArn)?.[1]
  if (!region) {
    throw new BluegreenError({
      code: 'USAGE',
      message: `${listenerArn} is not a listener ARN`,
      hint: 'copy it from the console or `aws elbv2 describe-listeners`: arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/…',
    })
  }
  const full = { ...config, region } as AwsElbv2Config
  const sdk = await import('@aws-sdk/client-elastic-load-balancing-v2')
  const client = newClient(sdk, full)
  const subject = { doing: `describing listener ${listenerArn}`, noun: 'listener', planKey: '--listener-arn' }
  try {
    const listeners = await client.send(new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }))
    const actions = listeners.Listeners?.[0]?.DefaultActions ?? []
    const forward = actions.find((a) => a.Type === 'forward')
    const arns = [
      ...(forward?.ForwardConfig?.TargetGroups ?? []).map((g) => g.TargetGroupArn),
      forward?.TargetGroupArn,
    ].filter((arn, i, all): arn is string => typeof arn === 'string' && all.indexOf(arn) === i)
    if (arns.length < 2) {
      throw new BluegreenError({
        code: 'LB_CONFIG',
        message: `listener ${listenerArn} forwards to ${arns.length} target group${arns.length === 1 ? '' : 's'}, not two`,
        hint: 'give its default forward action both pools’ target groups (live at weight 100, the other at 0), or fill pools.blue and pools.green in bluegreen.yaml by hand',
      })
    }
    const named = (color: string) =>
      arns.find((arn) => new RegExp(`targetgroup/[^/]*${color}`, 'i').test(arn))
    const blue = named('blue')
    const green = named('green')
    return blue && green && blue !== green
      ? { region, blue, green }
      : { region, blue: arns[0], green: arns[1] }
  } catch (error) {
    throw toBluegreenError(error, subject, full)
  } finally {
    client.destroy()
  }
}
