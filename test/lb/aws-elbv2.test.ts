/**
 * The aws-elbv2 adapter through the real AWS SDK against the local ALB emulator, with real app
 * servers as targets: the shared contract first, then what is particular to ELBv2.
 */
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

describeLoadBalancerContract('aws-elbv2 (real AWS SDK → local ALB emulator)', async () => {
  const apps = await startPoolApps(2)
  const emulator = await startAlbEmulator(fixtureConfig(apps))
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
    expect(result.after).toEqual({ live: 'blue', weights: { blue: 75, green: 25 }, split: true })
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

  it('gives instance targets the plan’s addresses in instance-id order, and asks for them when missing', async () => {
    // Given: blue's targets are instances, registered out of order
    const toInstances = (config: FixtureConfig): void => {
      config.instances = { 'i-0aaa': '127.0.0.1', 'i-0bbb': '127.0.0.1' }
      config.targetGroups[0].targetType = 'instance'
      config.targetGroups[0].targets = [`i-0bbb:${apps.blue[1].port}`, `i-0aaa:${apps.blue[0].port}`]
    }
    const addresses = apps.blue.map((app) => `${app.address}:${app.port}`)
    const { lb } = await given(toInstances, {
      pools: (e) => ({ ...poolsOf(e), blue: { targetGroupArn: arnOf(e, 'shop-blue'), addresses } }),
    })
    // When
    const targets = await lb.waitHealthy('blue', { timeoutMs: 5000, intervalMs: 100 })
    // Then
    expect(targets.map((t) => [t.id, t.address, t.port])).toEqual([
      ['i-0aaa', '127.0.0.1', apps.blue[0].port],
      ['i-0bbb', '127.0.0.1', apps.blue[1].port],
    ])
    // When: the plan gives no addresses
    const withoutAddresses = await createAwsElbv2(listenerConfig(emulator!), poolsOf(emulator!))
    const error = await rejection<BluegreenError>(withoutAddresses.targets('blue'))
    await withoutAddresses.close()
    // Then
    expect(error).toMatchObject({ code: 'LB_CONFIG' })
    expect(error.hint).toContain('pools.blue.addresses')
    expect(error.details).toEqual(['i-0aaa:' + apps.blue[0].port, 'i-0bbb:' + apps.blue[1].port])
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
    const lb = await adapter({}, poolsOf(emulator), racing)
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
