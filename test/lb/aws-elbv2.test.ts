/**
 * The aws-elbv2 adapter through the real AWS SDK against the local ALB emulator, with real app
 * servers as targets: the shared contract first, then what is particular to ELBv2.
 */
import { Agent, get as httpGet } from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BluegreenError } from '../../src/errors.js'
import { createAwsElbv2, type Elbv2Client } from '../../src/lb/aws-elbv2.js'
import type { LoadBalancer } from '../../src/lb/types.js'
import { startAlbEmulator, type AlbEmulator } from '../../src/local/alb/index.js'
import type { AwsElbv2Config, Plan } from '../../src/plan/schema.js'
import {
  closeApps,
  fixtureConfig,
  rejection,
  sdkClient,
  setListenerWeights,
  sleep,
  startPoolApps,
  type FixtureConfig,
  type PoolApps,
} from '../local/alb-support.js'
import { freePort, startProcess, waitFor } from '../support/process.js'
import { describeLoadBalancerContract } from './contract.js'

function arnOf(emulator: AlbEmulator, name: string): string {
  return emulator.targetGroups.find((tg) => tg.name === name)!.arn
}

function poolsOf(emulator: AlbEmulator): Plan['pools'] {
  return {
    blue: { targetGroupArn: arnOf(emulator, 'shop-blue') },
    green: { targetGroupArn: arnOf(emulator, 'shop-green') },
  }
}

function listenerConfig(emulator: AlbEmulator, extra: Partial<AwsElbv2Config> = {}): AwsElbv2Config {
  return {
    provider: 'aws-elbv2',
    region: 'eu-west-1',
    listenerArn: emulator.listeners[0].arn,
    endpoint: emulator.apiUrl,
    ...extra,
  }
}

describeLoadBalancerContract('aws-elbv2 (real AWS SDK → local ALB emulator, reads 3 s stale)', async () => {
  const apps = await startPoolApps(2)
  const emulator = await startAlbEmulator(fixtureConfig(apps))
  // ELBv2 is eventually consistent: every Describe lags every write by 3 s, and the suite still holds.
  emulator.injectFault({ mode: 'stale', count: 100_000, delayMs: 3000 })
  const lb = await createAwsElbv2(listenerConfig(emulator), poolsOf(emulator))
  return {
    lb,
    apps,
    trafficUrl: emulator.listeners[0].url,
    supportsWeights: true,
    initialLive: 'blue',
    lossless: true,
    healthTimeoutMs: 3000,
    async teardown() {
      await emulator.close()
      await closeApps(apps)
    },
  }
})

describe('aws-elbv2 adapter', () => {
  let apps: PoolApps
  let emulator: AlbEmulator | undefined
  let lb: LoadBalancer | undefined
  let sdk: Awaited<ReturnType<typeof sdkClient>>['sdk']
  let client: Awaited<ReturnType<typeof sdkClient>>['client'] | undefined

  beforeAll(async () => {
    apps = await startPoolApps(2)
  })
  afterEach(async () => {
    await lb?.close()
    client?.destroy()
    await emulator?.close()
    lb = client = emulator = undefined
  })
  afterAll(async () => {
    await closeApps(apps)
  })

  /** Starts the emulator from the fixture (edited), an SDK client for looking inside, and the adapter. */
  async function given(
    edit?: (config: FixtureConfig) => void,
    options: {
      config?: (emulator: AlbEmulator) => Partial<AwsElbv2Config>
      pools?: (emulator: AlbEmulator) => Plan['pools']
      client?: (emulator: AlbEmulator) => Promise<Elbv2Client>
    } = {},
  ): Promise<{ emulator: AlbEmulator; lb: LoadBalancer }> {
    const started = await startAlbEmulator(fixtureConfig(apps, edit))
    emulator = started
    ;({ sdk, client } = await sdkClient(started.apiUrl))
    lb = await createAwsElbv2(
      listenerConfig(started, options.config?.(started)),
      options.pools?.(started) ?? poolsOf(started),
      { client: await options.client?.(started) },
    )
    return { emulator: started, lb }
  }

  async function defaultActions(listenerArn = emulator!.listeners[0].arn) {
    const { Listeners } = await client!.send(
      new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }),
    )
    return Listeners![0].DefaultActions!
  }

  const plainForwardToBlue = (config: FixtureConfig): void => {
    config.listeners[0].defaultAction = { targetGroup: 'shop-blue' }
    config.listeners[0].rules = []
  }

  it('reads a plain forward to one pool as 100% that pool, and its first shift puts both pools in the action', async () => {
    // Given: the listener forwards with a plain TargetGroupArn to blue
    const { lb, emulator } = await given(plainForwardToBlue)
    // When
    const traffic = await lb.traffic()
    // Then
    expect(traffic).toEqual({ live: 'blue', weights: { blue: 100, green: 0 }, split: false })

    // When: a shift to the pool that is already live
    const result = await lb.shift('blue')
    // Then: traffic is the same, but the listener changed so that green is health-checked
    expect(result.changed).toBe(true)
    expect(result.after).toEqual(traffic)
    const [forward] = await defaultActions()
    expect(forward.TargetGroupArn).toBeUndefined()
    expect(forward.ForwardConfig!.TargetGroups).toEqual([
      { TargetGroupArn: arnOf(emulator, 'shop-blue'), Weight: 100 },
      { TargetGroupArn: arnOf(emulator, 'shop-green'), Weight: 0 },
    ])
    // And: from now on it is a no-op
    expect((await lb.shift('blue')).changed).toBe(false)
  })

  it('attaches an unattached pool at weight 0 before waiting for it, so it can become healthy without traffic', async () => {
    // Given: green is in no action, so ELBv2 does not check it
    const { lb } = await given(plainForwardToBlue)
    expect((await lb.targets('green')).map((t) => t.health)).toEqual(['unused', 'unused'])
    // When
    const targets = await lb.waitHealthy('green', { timeoutMs: 5000, intervalMs: 100 })
    // Then
    expect(targets.map((t) => t.port).sort()).toEqual(apps.green.map((app) => app.port).sort())
    expect(await lb.traffic()).toEqual({ live: 'blue', weights: { blue: 100, green: 0 }, split: false })
  })

  it('keeps stickiness, an authenticate action and Order as they were when it changes weights', async () => {
    // Given: an OIDC action before a sticky weighted forward
    const { lb, emulator } = await given()
    const oidc = {
      Type: 'authenticate-oidc' as const,
      Order: 5,
      AuthenticateOidcConfig: {
        Issuer: 'https://idp.example.com',
        AuthorizationEndpoint: 'https://idp.example.com/authorize',
        TokenEndpoint: 'https://idp.example.com/token',
        UserInfoEndpoint: 'https://idp.example.com/userinfo',
        ClientId: 'shop',
        ClientSecret: 's3cret',
        SessionTimeout: 3600,
      },
    }
    const stickiness = { Enabled: true, DurationSeconds: 300 }
    await client!.send(
      new sdk.ModifyListenerCommand({
        ListenerArn: emulator.listeners[0].arn,
        DefaultActions: [
          oidc,
          {
            Type: 'forward',
            Order: 10,
            ForwardConfig: {
              TargetGroups: [
                { TargetGroupArn: arnOf(emulator, 'shop-blue'), Weight: 100 },
                { TargetGroupArn: arnOf(emulator, 'shop-green'), Weight: 0 },
              ],
              TargetGroupStickinessConfig: stickiness,
            },
          },
        ],
      }),
    )
    // When
    const result = await lb.shift('green', 25)
    // Then
    expect(result.after).toEqual({
      live: 'blue',
      weights: { blue: 75, green: 25 },
      split: true,
      stickiness: { enabled: true, durationSeconds: 300 },
    })
    const { ClientSecret: _secret, ...described } = oidc.AuthenticateOidcConfig
    expect(await defaultActions()).toEqual([
      { ...oidc, AuthenticateOidcConfig: described },
      {
        Type: 'forward',
        Order: 10,
        ForwardConfig: {
          TargetGroups: [
            { TargetGroupArn: arnOf(emulator, 'shop-blue'), Weight: 75 },
            { TargetGroupArn: arnOf(emulator, 'shop-green'), Weight: 25 },
          ],
          TargetGroupStickinessConfig: stickiness,
        },
      },
    ])
    // And: the client secret the adapter never saw was kept (UseExistingClientSecret)
    const stored = emulator.state.listeners[0].defaultActions[0].AuthenticateOidcConfig as Record<
      string,
      unknown
    >
    expect(stored.ClientSecret).toBe('s3cret')
  })

  it('reads 995/5 as a split (raw weights, not rounded percentages), and a shift to 100% ends it', async () => {
    // Given: weights as ELBv2 stores them, 0–999
    const { lb, emulator } = await given()
    await setListenerWeights(emulator, { blue: 995, green: 5 })
    // When
    const traffic = await lb.traffic()
    // Then: green's 0.5% is a share, shown as at least 1%
    expect(traffic).toEqual({ live: 'blue', weights: { blue: 99, green: 1 }, split: true })

    // When: what a rollback to blue does
    const result = await lb.shift('blue', 100)
    // Then: it writes, and green gets nothing
    expect(result.changed).toBe(true)
    expect(result.after).toEqual({ live: 'blue', weights: { blue: 100, green: 0 }, split: false })
    expect((await defaultActions())[0].ForwardConfig!.TargetGroups!.map((t) => t.Weight)).toEqual([100, 0])

    // Given: the same ratio with other raw numbers
    await setListenerWeights(emulator, { blue: 200, green: 0 })
    // Then: no write is needed
    expect((await lb.shift('blue')).changed).toBe(false)
  })

  it('trusts the Modify response and waits out reads that lag the write (eventual consistency)', async () => {
    // Given: Describe shows the old actions for 1.5 s after each write
    const { lb, emulator } = await given()
    emulator.injectFault({ mode: 'stale', count: 10, delayMs: 1500 })
    // When
    const result = await lb.shift('green', 100)
    // Then: the switch succeeds, and by the time it returns Describe agrees
    expect(result.after).toEqual({ live: 'green', weights: { blue: 0, green: 100 }, split: false })
    expect(await lb.traffic()).toEqual(result.after)
  })

  it('gives up with LB_VERIFY_FAILED once consistencyTimeout has passed without the write showing', async () => {
    // Given: reads lag writes by longer than the plan lets the switch wait
    const { lb, emulator } = await given(undefined, { config: () => ({ consistencyTimeout: '600ms' }) })
    emulator.injectFault({ mode: 'stale', count: 10, delayMs: 5000 })
    // When
    const error = await rejection<BluegreenError>(lb.shift('green'))
    // Then
    expect(error).toMatchObject({ code: 'LB_VERIFY_FAILED' })
    expect(error.details.join('\n')).toContain('loadBalancer.consistencyTimeout')
    expect(error.hint).toContain('bluegreen status')
  })

  it('with group stickiness: a forward switch keeps it and says how long sticky clients stay; a rollback moves every client', async () => {
    // Given: a sticky forward, blue live, and clients that keep their stickiness cookies
    const { lb, emulator } = await given((config) => {
      config.listeners[0].defaultAction = {
        forward: [
          { targetGroup: 'shop-blue', weight: 100 },
          { targetGroup: 'shop-green', weight: 0 },
        ],
        stickiness: { durationSeconds: 600 },
      }
    })
    const url = emulator.listeners[0].url
    await lb.waitHealthy('blue', { timeoutMs: 5000, intervalMs: 100 })
    await lb.waitHealthy('green', { timeoutMs: 5000, intervalMs: 100 })
    expect((await lb.traffic()).stickiness).toEqual({ enabled: true, durationSeconds: 600 })
    const blueClient = new StickyClient(url)
    expect(await blueClient.get()).toBe('blue')

    // When: a forward switch, all the way (its last step says sticky clients may stay)
    await lb.shift('green', 50)
    const forward = await lb.shift('green', 100, { stickyClients: 'stay' })
    // Then: stickiness stays on, the notes say who may stay behind, and the sticky client does
    expect(forward.after).toMatchObject({
      live: 'green',
      stickiness: { enabled: true, durationSeconds: 600 },
    })
    expect(forward.notes?.join('\n')).toMatch(
      /holding a stickiness cookie for blue may stay on blue for up to 10m/,
    )
    expect(await blueClient.get()).toBe('blue')
    const newcomer = new StickyClient(url)
    expect(await newcomer.get()).toBe('green')
    blueClient.close()
    newcomer.close()

    // Given: keep-alive load from clients with and without cookies, some sticky to each pool
    await lb.shift('green', 50)
    const clients = Array.from({ length: 8 }, (_, i) => new StickyClient(url, i % 4 !== 3))
    for (const client of clients) await client.get()
    expect(new Set(clients.filter((c) => c.sticky).map((c) => c.pool))).toEqual(new Set(['blue', 'green']))
    const load = runStickyLoad(clients)
    await sleep(200)

    // When: a rollback to blue
    const rollback = await lb.shift('blue', 100)
    const returned = performance.now()
    await sleep(1000)
    const report = await load.stop()

    // Then: from the moment it returned, every request (sticky or not) reached blue and none failed
    const after = report.answers.filter((a) => a.startedAt > returned)
    expect(after.length).toBeGreaterThan(20)
    expect(after.filter((a) => a.pool !== 'blue')).toEqual([])
    expect(report.failures).toEqual([])
    expect(rollback.notes?.join('\n')).toMatch(/group stickiness \(10m\) turned off in the same write/)
    expect(rollback.notes?.join('\n')).toMatch(/stays off until you turn it on again/)

    expect(report.answers.some((a) => a.pool === 'green' && a.startedAt < returned)).toBe(true)
    expect(rollback.after).toEqual({ live: 'blue', weights: { blue: 100, green: 0 }, split: false })
    const [forwardAction] = await defaultActions()
    expect(forwardAction.ForwardConfig!.TargetGroupStickinessConfig).toEqual({ Enabled: false })
  })

  it('restores group stickiness on the next forward switch when the plan names it', async () => {
    // Given: a rollback turned stickiness off, and the plan says what it should be
    const { lb, emulator } = await given(undefined, { config: () => ({ stickiness: { duration: '5m' } }) })
    expect((await lb.traffic()).stickiness).toBeUndefined()
    // When: a forward step
    const result = await lb.shift('green', 10)
    // Then
    expect(result.after.stickiness).toEqual({ enabled: true, durationSeconds: 300 })
    expect(result.notes?.join('\n')).toContain('turned on again (5m)')
    const [forward] = await defaultActions(emulator.listeners[0].arn)
    expect(forward.ForwardConfig!.TargetGroupStickinessConfig).toEqual({
      Enabled: true,
      DurationSeconds: 300,
    })
    // And: a rollback says the next switch restores it
    const rollback = await lb.shift('blue', 100)
    expect(rollback.notes?.join('\n')).toContain('the next forward switch turns group stickiness on again')
  })

  it('switches one listener rule by ARN and leaves the listener’s default action alone', async () => {
    // Given
    const { lb, emulator } = await given(undefined, {
      config: (e) => ({ listenerArn: undefined, ruleArn: e.listeners[0].rules[0].arn }),
    })
    const ruleArn = emulator.listeners[0].rules[0].arn
    expect(lb.describe()).toMatch(
      /^rule app\/shop\/[0-9a-f]{16}\/[0-9a-f]{16}\/[0-9a-f]{16} \(eu-west-1 via http:\/\/127\.0\.0\.1:\d+\)$/,
    )
    // When
    const result = await lb.shift('green')
    // Then
    expect(result.after.live).toBe('green')
    const { Rules } = await client!.send(new sdk.DescribeRulesCommand({ RuleArns: [ruleArn] }))
    expect(Rules![0].Actions![0].ForwardConfig!.TargetGroups!.map((t) => t.Weight)).toEqual([0, 100])
    expect(Rules![0].Conditions![0].Field).toBe('path-pattern')
    expect((await defaultActions())[0].ForwardConfig!.TargetGroups!.map((t) => t.Weight)).toEqual([100, 0])
    // And: production follows the rule for /api/*, the default action elsewhere
    await waitFor(
      async () => (await fetch(`${emulator.listeners[0].url}/api/x`)).headers.get('x-pool') === 'green',
      5000,
    )
    expect((await fetch(`${emulator.listeners[0].url}/`)).headers.get('x-pool')).toBe('blue')
  })

  it('refuses a listener’s default rule as ruleArn, with a hint to use listenerArn', async () => {
    // Given
    const { lb } = await given(undefined, {
      // The default rule's ARN is derived like the others; DescribeRules would list it
      config: (e) => ({ listenerArn: undefined, ruleArn: e.state.listeners[0].defaultRuleArn }),
    })
    // When
    const error = await rejection<BluegreenError>(lb.traffic())
    // Then
    expect(error).toBeInstanceOf(BluegreenError)
    expect(error).toMatchObject({ code: 'LB_CONFIG' })
    expect(error.hint).toContain('listenerArn')
  })

  it('resolves instance targets’ private IPs with EC2 DescribeInstances, and takes the plan’s addresses as an override', async () => {
    // Given: blue's targets are instances (the emulator's EC2 knows their IPs), registered out of order
    const toInstances = (config: FixtureConfig): void => {
      config.instances = { 'i-0aaa': '127.0.0.1', 'i-0bbb': '127.0.0.1' }
      config.targetGroups[0].targetType = 'instance'
      config.targetGroups[0].targets = [`i-0bbb:${apps.blue[1].port}`, `i-0aaa:${apps.blue[0].port}`]
    }
    const { lb, emulator } = await given(toInstances)
    // When
    const targets = await lb.targets('blue')
    // Then: sorted by instance id, each with the IP EC2 gave
    expect(targets.map((t) => [t.id, t.address, t.port])).toEqual([
      ['i-0aaa', '127.0.0.1', apps.blue[0].port],
      ['i-0bbb', '127.0.0.1', apps.blue[1].port],
    ])

    // When: the plan lists addresses, they win (in instance-id order)
    const addresses = apps.blue.map((app) => `localhost:${app.port}`)
    const overridden = await createAwsElbv2(listenerConfig(emulator), {
      ...poolsOf(emulator),
      blue: { targetGroupArn: arnOf(emulator, 'shop-blue'), addresses },
    })
    const listed = await overridden.waitHealthy('blue', { timeoutMs: 5000, intervalMs: 100 })
    // And: too few addresses is a plan error naming the instances
    const short = await createAwsElbv2(listenerConfig(emulator), {
      ...poolsOf(emulator),
      blue: { targetGroupArn: arnOf(emulator, 'shop-blue'), addresses: addresses.slice(0, 1) },
    })
    const error = await rejection<BluegreenError>(short.targets('blue'))
    await Promise.all([overridden.close(), short.close()])
    // Then
    expect(listed.map((t) => [t.id, t.address, t.port])).toEqual([
      ['i-0aaa', 'localhost', apps.blue[0].port],
      ['i-0bbb', 'localhost', apps.blue[1].port],
    ])
    expect(error).toMatchObject({ code: 'LB_CONFIG' })
    expect(error.hint).toContain('pools.blue.addresses')
    expect(error.details).toEqual(['i-0aaa:' + apps.blue[0].port, 'i-0bbb:' + apps.blue[1].port])
  })

  it('an instance EC2 does not know: LB_NOT_FOUND with a hint, from InvalidInstanceID.NotFound', async () => {
    // Given: the target group has an instance the emulator's EC2 has never heard of
    const { lb, emulator } = await given((config) => {
      config.instances = { 'i-0aaa': '127.0.0.1' }
      config.targetGroups[0].targetType = 'instance'
      config.targetGroups[0].targets = [`i-0aaa:${apps.blue[0].port}`]
    })
    delete emulator.state.instances['i-0aaa']
    // When
    const error = await rejection<BluegreenError>(lb.targets('blue'))
    // Then
    expect(error).toMatchObject({ code: 'LB_NOT_FOUND' })
    expect(error.details.join('\n')).toContain('InvalidInstanceID.NotFound')
    expect(error.hint).toContain('pools.blue.addresses')
  })
})

describe('aws-elbv2 errors a user can act on', () => {
  let apps: PoolApps
  let emulator: AlbEmulator
  let sdk: Awaited<ReturnType<typeof sdkClient>>['sdk']
  const closing: { close?(): Promise<void>; destroy?(): void }[] = []

  beforeAll(async () => {
    apps = await startPoolApps(1)
    emulator = await startAlbEmulator(fixtureConfig(apps))
    ;({ sdk } = await sdkClient(emulator.apiUrl))
  })
  afterEach(async () => {
    emulator.clearFaults()
    for (const item of closing.splice(0)) {
      item.destroy?.()
      await item.close?.()
    }
  })
  afterAll(async () => {
    await emulator.close()
    await closeApps(apps)
  })

  async function adapter(
    config: Partial<AwsElbv2Config> = {},
    pools = poolsOf(emulator),
    client?: Elbv2Client,
  ) {
    const lb = await createAwsElbv2(listenerConfig(emulator, config), pools, { client })
    closing.push(lb)
    return lb
  }

  async function realClient(maxAttempts: number) {
    const { client } = await sdkClient(emulator.apiUrl, { maxAttempts })
    closing.push(client)
    return client
  }

  const gone = (arn: string): string => arn.replace(/[0-9a-f]{16}$/, '0000000000000000')

  it('a listener that does not exist: LB_NOT_FOUND naming the plan key and the region, from ListenerNotFoundException', async () => {
    // Given
    const lb = await adapter({ listenerArn: gone(emulator.listeners[0].arn) })
    // When
    const error = await rejection<BluegreenError>(lb.traffic())
    // Then
    expect(error).toBeInstanceOf(BluegreenError)
    expect(error.code).toBe('LB_NOT_FOUND')
    expect(error.cause).toBeInstanceOf(sdk.ListenerNotFoundException)
    expect(error.message).toContain('eu-west-1')
    expect(error.hint).toContain('loadBalancer.listenerArn')
    expect(error.details.join('\n')).toContain('ListenerNotFoundException')
  })

  it('a rule or a target group that does not exist: LB_NOT_FOUND naming which, from the SDK’s exceptions', async () => {
    // Given
    const rule = await adapter({ listenerArn: undefined, ruleArn: gone(emulator.listeners[0].rules[0].arn) })
    const pools = { ...poolsOf(emulator), green: { targetGroupArn: gone(arnOf(emulator, 'shop-green')) } }
    const group = await adapter({}, pools)
    // When
    const ruleError = await rejection<BluegreenError>(rule.shift('green'))
    const targetsError = await rejection<BluegreenError>(group.targets('green'))
    const shiftError = await rejection<BluegreenError>(group.shift('green'))
    // Then
    expect(ruleError).toMatchObject({ code: 'LB_NOT_FOUND' })
    expect(ruleError.cause).toBeInstanceOf(sdk.RuleNotFoundException)
    expect(ruleError.hint).toContain('loadBalancer.ruleArn')
    expect(targetsError).toMatchObject({ code: 'LB_NOT_FOUND' })
    expect(targetsError.cause).toBeInstanceOf(sdk.TargetGroupNotFoundException)
    expect(targetsError.hint).toContain('pools.green.targetGroupArn')
    // A forward to a group ELBv2 does not know fails the write; the hint names the pools
    expect(shiftError).toMatchObject({ code: 'LB_NOT_FOUND' })
    expect(shiftError.cause).toBeInstanceOf(sdk.TargetGroupNotFoundException)
    expect(shiftError.hint).toContain('pools.blue.targetGroupArn and pools.green.targetGroupArn')
    expect((await group.traffic()).live).toBe('blue')
  })

  it('AccessDenied: LB_ACCESS_DENIED listing the IAM actions, and nothing switched', async () => {
    // Given
    const lb = await adapter()
    emulator.injectFault({ mode: 'denied', count: 1, actions: ['ModifyListener'] })
    // When
    const error = await rejection<BluegreenError>(lb.shift('green'))
    // Then
    expect(error).toMatchObject({ code: 'LB_ACCESS_DENIED' })
    expect(error.hint).toContain('elasticloadbalancing:ModifyListener')
    expect(error.details.join('\n')).toContain('not authorized')
    expect((await lb.traffic()).live).toBe('blue')
  })

  it('throttling: retried (adaptive) until it passes; LB_THROTTLED once retries run out', async () => {
    // Given
    const lb = await adapter()
    emulator.injectFault({ mode: 'throttle', count: 2 })
    // When / Then: the SDK's retries absorb it
    expect((await lb.traffic()).live).toBe('blue')

    // Given: a client that gives up after two attempts
    const impatient = await adapter({}, poolsOf(emulator), await realClient(2))
    emulator.injectFault({ mode: 'throttle', count: 5 })
    // When
    const error = await rejection<BluegreenError>(impatient.traffic())
    // Then
    expect(error).toMatchObject({ code: 'LB_THROTTLED' })
    expect(error.hint).toMatch(/wait/)
  })

  it('a failing or unreachable endpoint: LB_UNREACHABLE naming it', async () => {
    // Given
    const once = await adapter({}, poolsOf(emulator), await realClient(1))
    emulator.injectFault({ mode: '5xx', count: 1 })
    // When
    const failing = await rejection<BluegreenError>(once.traffic())
    // Then
    expect(failing).toMatchObject({ code: 'LB_UNREACHABLE' })
    expect(failing.details.join('\n')).toContain('InternalFailure')

    // Given: nothing listens at the endpoint
    const nowhere = `http://127.0.0.1:${await freePort()}`
    const lb = await adapter({ endpoint: nowhere })
    // When
    const error = await rejection<BluegreenError>(lb.traffic())
    // Then
    expect(error).toMatchObject({ code: 'LB_UNREACHABLE' })
    expect(error.hint).toContain(nowhere)
  })

  it('a plan that cannot work: LB_CONFIG before any call', async () => {
    const pools = poolsOf(emulator)
    const cases: [string, Promise<unknown>, string][] = [
      ['ARN from another region', adapter({ region: 'us-east-1' }), 'set loadBalancer.region to eu-west-1'],
      [
        'one target group for both pools',
        adapter({}, { blue: pools.blue, green: pools.blue }),
        'its own targetGroupArn',
      ],
      [
        'a pool without target group',
        adapter({}, { blue: pools.blue, green: {} }),
        'pools.green.targetGroupArn',
      ],
    ]
    for (const [what, attempt, hint] of cases) {
      const error = await rejection<BluegreenError>(attempt)
      expect(error.code, what).toBe('LB_CONFIG')
      expect(error.hint, what).toContain(hint)
    }
  })

  it('a change that does not stick (someone else edits the listener): LB_VERIFY_FAILED', async () => {
    // Given: a client that, like a console user racing the release, puts blue back after every write
    const real = await realClient(3)
    const listenerArn = emulator.listeners[0].arn
    const racing: Elbv2Client = {
      async send(command) {
        const out = await real.send(command as never)
        if (command instanceof sdk.ModifyListenerCommand) {
          const blueAgain = [
            {
              Type: 'forward' as const,
              ForwardConfig: {
                TargetGroups: [
                  { TargetGroupArn: arnOf(emulator, 'shop-blue'), Weight: 100 },
                  { TargetGroupArn: arnOf(emulator, 'shop-green'), Weight: 0 },
                ],
              },
            },
          ]
          await real.send(
            new sdk.ModifyListenerCommand({ ListenerArn: listenerArn, DefaultActions: blueAgain }),
          )
        }
        return out
      },
    }
    const lb = await adapter({ consistencyTimeout: '1s' }, poolsOf(emulator), racing)
    // When
    const error = await rejection<BluegreenError>(lb.shift('green'))
    // Then
    expect(error).toMatchObject({ code: 'LB_VERIFY_FAILED' })
    expect(error.details.join('\n')).toContain('shop-green/')
    expect(error.hint).toContain('bluegreen status')
  })

  it('does not load the AWS SDK when the adapter module is imported, only when an adapter is created', async () => {
    // Given: a process that reports every module it resolves from @aws-sdk
    const script = [
      "import { register } from 'node:module'",
      "import { MessageChannel } from 'node:worker_threads'",
      'const { port1, port2 } = new MessageChannel()',
      'const seen = []',
      'port1.on("message", (m) => seen.push(m)); port1.unref()',
      'const hook = `let port; export function initialize(d) { port = d.port } export async function resolve(s, c, next) { if (s.startsWith("@aws-sdk/")) port.postMessage(s); return next(s, c) }`',
      "register('data:text/javascript,' + encodeURIComponent(hook), { data: { port: port2 }, transferList: [port2] })",
      "const { createAwsElbv2 } = await import('./src/lb/aws-elbv2.ts')",
      'await new Promise((r) => setTimeout(r, 100))',
      'console.log(`after import: ${seen.length}`)',
      `const lb = await createAwsElbv2({ provider: 'aws-elbv2', region: 'eu-west-1', listenerArn: ${JSON.stringify(emulator.listeners[0].arn)}, endpoint: 'http://127.0.0.1:1' }, ${JSON.stringify(poolsOf(emulator))})`,
      'await lb.close()',
      'await new Promise((r) => setTimeout(r, 100))',
      'console.log(`after create: ${seen.length}`)',
    ].join('\n')
    const root = new URL('../..', import.meta.url).pathname
    const proc = startProcess(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
    })
    // When
    const exit = await proc.exited
    // Then
    expect(exit.code, proc.output()).toBe(0)
    expect(proc.output()).toContain('after import: 0')
    expect(proc.output()).toMatch(/after create: [1-9]/)
  })
})

/** A browser-like client: one keep-alive connection, and the cookies the load balancer sets (when sticky). */
class StickyClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 })
  private cookies = new Map<string, string>()
  pool: string | undefined

  constructor(
    private readonly url: string,
    readonly sticky = true,
  ) {}

  get(): Promise<string> {
    return new Promise((resolve, reject) => {
      const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
      const req = httpGet(this.url, { agent: this.agent, headers: cookie ? { cookie } : {} }, (res) => {
        res.resume()
        for (const line of res.headers['set-cookie'] ?? []) {
          const [pair] = line.split(';')
          const at = pair.indexOf('=')
          if (this.sticky) this.cookies.set(pair.slice(0, at), pair.slice(at + 1))
        }
        res.on('end', () => {
          const pool = String(res.headers['x-pool'] ?? '')
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`))
          this.pool = pool
          resolve(pool)
        })
      })
      req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')))
      req.on('error', reject)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}

/** Each client sends requests back to back until stopped; every answer is kept with its start time. */
function runStickyLoad(clients: StickyClient[]) {
  let stopped = false
  const answers: { pool: string; startedAt: number }[] = []
  const failures: string[] = []
  const workers = clients.map(async (client) => {
    while (!stopped) {
      const startedAt = performance.now()
      try {
        answers.push({ pool: await client.get(), startedAt })
      } catch (error) {
        failures.push((error as Error).message)
      }
    }
  })
  return {
    async stop() {
      stopped = true
      await Promise.all(workers)
      for (const client of clients) client.close()
      return { answers, failures }
    },
  }
}
