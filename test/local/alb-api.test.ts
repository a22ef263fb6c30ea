import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startAlbEmulator, type AlbEmulator } from '../../src/local/alb/index.js'
import { startTestApp, type TestApp } from '../support/http-app.js'
import { waitFor } from '../support/process.js'
import {
  closeApps,
  fixtureConfig,
  rejection,
  sdkClient,
  startPoolApps,
  type PoolApps,
} from './alb-support.js'

type Sdk = Awaited<ReturnType<typeof sdkClient>>['sdk']
type Client = Awaited<ReturnType<typeof sdkClient>>['client']

describe('ALB emulator: the ELBv2 Query API, through the real AWS SDK', () => {
  let apps: PoolApps
  let emulator: AlbEmulator
  let sdk: Sdk
  let client: Client
  let listenerArn: string
  let blueArn: string
  let greenArn: string

  beforeAll(async () => {
    apps = await startPoolApps(1)
  })
  afterAll(async () => {
    await closeApps(apps)
  })
  beforeEach(async () => {
    emulator = await startAlbEmulator(fixtureConfig(apps))
    ;({ sdk, client } = await sdkClient(emulator.apiUrl))
    listenerArn = emulator.listeners[0].arn
    blueArn = emulator.targetGroups.find((tg) => tg.name === 'shop-blue')!.arn
    greenArn = emulator.targetGroups.find((tg) => tg.name === 'shop-green')!.arn
  })
  afterEach(async () => {
    client.destroy()
    await emulator.close()
  })

  it('gives real-looking ARNs that stay the same across restarts of the same config', async () => {
    // Then
    expect(listenerArn).toMatch(
      /^arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener\/app\/shop\/[0-9a-f]{16}\/[0-9a-f]{16}$/,
    )
    expect(blueArn).toMatch(
      /^arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup\/shop-blue\/[0-9a-f]{16}$/,
    )
    // When
    const again = await startAlbEmulator(fixtureConfig(apps))
    await again.close()
    // Then
    expect(again.listeners[0].arn).toBe(listenerArn)
    expect(again.targetGroups).toEqual(emulator.targetGroups)
  })

  it('describes the listener’s weighted forward action, and the SDK parses weights and stickiness', async () => {
    // When
    const { Listeners } = await client.send(new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }))
    // Then
    expect(Listeners).toHaveLength(1)
    expect(Listeners![0]).toMatchObject({
      ListenerArn: listenerArn,
      LoadBalancerArn: emulator.loadBalancerArn,
      Port: emulator.listeners[0].port,
      Protocol: 'HTTP',
    })
    expect(Listeners![0].DefaultActions).toEqual([
      {
        Type: 'forward',
        Order: 1,
        ForwardConfig: {
          TargetGroups: [
            { TargetGroupArn: blueArn, Weight: 100 },
            { TargetGroupArn: greenArn, Weight: 0 },
          ],
          TargetGroupStickinessConfig: { Enabled: false },
        },
      },
    ])
    // And by load balancer
    const byLb = await client.send(
      new sdk.DescribeListenersCommand({ LoadBalancerArn: emulator.loadBalancerArn }),
    )
    expect(byLb.Listeners?.map((l) => l.ListenerArn)).toEqual([listenerArn])
  })

  it('keeps an action list as written (authenticate action, Order, stickiness) and never describes the client secret', async () => {
    // Given
    const oidc = {
      Type: 'authenticate-oidc' as const,
      Order: 1,
      AuthenticateOidcConfig: {
        Issuer: 'https://idp.example.com',
        AuthorizationEndpoint: 'https://idp.example.com/authorize',
        TokenEndpoint: 'https://idp.example.com/token',
        UserInfoEndpoint: 'https://idp.example.com/userinfo',
        ClientId: 'shop',
        ClientSecret: 's3cret',
        AuthenticationRequestExtraParams: { prompt: 'login' },
        OnUnauthenticatedRequest: 'authenticate' as const,
      },
    }
    const forward = {
      Type: 'forward' as const,
      Order: 2,
      ForwardConfig: {
        TargetGroups: [
          { TargetGroupArn: blueArn, Weight: 30 },
          { TargetGroupArn: greenArn, Weight: 70 },
        ],
        TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 120 },
      },
    }
    // When
    const modified = await client.send(
      new sdk.ModifyListenerCommand({ ListenerArn: listenerArn, DefaultActions: [forward, oidc] }),
    )
    const { Listeners } = await client.send(new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }))
    // Then: sorted by Order, everything kept, the secret left out
    const { ClientSecret: _secret, ...described } = oidc.AuthenticateOidcConfig
    const expected = [{ ...oidc, AuthenticateOidcConfig: described }, forward]
    expect(modified.Listeners![0].DefaultActions).toEqual(expected)
    expect(Listeners![0].DefaultActions).toEqual(expected)

    // When: the actions as read are sent back with UseExistingClientSecret
    const readBack = Listeners![0].DefaultActions!.map((a) =>
      a.AuthenticateOidcConfig
        ? { ...a, AuthenticateOidcConfig: { ...a.AuthenticateOidcConfig, UseExistingClientSecret: true } }
        : a,
    )
    await client.send(new sdk.ModifyListenerCommand({ ListenerArn: listenerArn, DefaultActions: readBack }))
    // Then: the stored secret survived
    const stored = emulator.state.listeners[0].defaultActions[0].AuthenticateOidcConfig as Record<
      string,
      unknown
    >
    expect(stored.ClientSecret).toBe('s3cret')

    // When: sent back without a secret and without UseExistingClientSecret
    const error = await rejection(
      client.send(
        new sdk.ModifyListenerCommand({
          ListenerArn: listenerArn,
          DefaultActions: Listeners![0].DefaultActions,
        }),
      ),
    )
    // Then
    expect(error.name).toBe('ValidationError')
    expect(error.message).toContain('ClientSecret')
  })

  it('describes a plain forward with TargetGroupArn and a one-entry ForwardConfig, as ELBv2 does', async () => {
    // When
    await client.send(
      new sdk.ModifyListenerCommand({
        ListenerArn: listenerArn,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: blueArn }],
      }),
    )
    const { Listeners } = await client.send(new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }))
    // Then
    expect(Listeners![0].DefaultActions).toEqual([
      {
        Type: 'forward',
        Order: 1,
        TargetGroupArn: blueArn,
        ForwardConfig: {
          TargetGroups: [{ TargetGroupArn: blueArn, Weight: 1 }],
          TargetGroupStickinessConfig: { Enabled: false },
        },
      },
    ])
    // And: green is still health-checked while the /api/* rule references it …
    const greenHealth = async () =>
      (await client.send(new sdk.DescribeTargetHealthCommand({ TargetGroupArn: greenArn })))
        .TargetHealthDescriptions![0].TargetHealth
    expect((await greenHealth())!.State).not.toBe('unused')
    // … and reports `unused` once nothing does
    const ruleArn = emulator.listeners[0].rules[0].arn
    await client.send(
      new sdk.ModifyRuleCommand({
        RuleArn: ruleArn,
        Actions: [{ Type: 'forward', TargetGroupArn: blueArn }],
      }),
    )
    expect(await greenHealth()).toEqual({
      State: 'unused',
      Reason: 'Target.NotInUse',
      Description: 'Target group is not configured to receive traffic from the load balancer',
    })

    // When: TargetGroupArn together with a two-group ForwardConfig
    const error = await rejection(
      client.send(
        new sdk.ModifyListenerCommand({
          ListenerArn: listenerArn,
          DefaultActions: [
            {
              Type: 'forward',
              TargetGroupArn: blueArn,
              ForwardConfig: {
                TargetGroups: [
                  { TargetGroupArn: blueArn, Weight: 1 },
                  { TargetGroupArn: greenArn, Weight: 1 },
                ],
              },
            },
          ],
        }),
      ),
    )
    // Then
    expect(error.name).toBe('ValidationError')
  })

  it('lists a listener’s rules with its default rule, and ModifyRule changes one rule’s weights', async () => {
    // Given
    const ruleArn = emulator.listeners[0].rules[0].arn
    // When
    const { Rules } = await client.send(new sdk.DescribeRulesCommand({ ListenerArn: listenerArn }))
    // Then
    expect(Rules?.map((r) => [r.Priority, r.IsDefault])).toEqual([
      ['10', false],
      ['default', true],
    ])
    expect(Rules![0].Conditions).toEqual([
      { Field: 'path-pattern', Values: ['/api/*'], PathPatternConfig: { Values: ['/api/*'] } },
    ])

    // When
    const actions = [
      {
        Type: 'forward' as const,
        Order: 1,
        ForwardConfig: {
          TargetGroups: [
            { TargetGroupArn: blueArn, Weight: 0 },
            { TargetGroupArn: greenArn, Weight: 100 },
          ],
        },
      },
    ]
    await client.send(new sdk.ModifyRuleCommand({ RuleArn: ruleArn, Actions: actions }))
    const after = await client.send(new sdk.DescribeRulesCommand({ RuleArns: [ruleArn] }))
    // Then: the rule changed, the listener's default action did not
    expect(after.Rules![0].Actions![0].ForwardConfig!.TargetGroups).toEqual(
      actions[0].ForwardConfig.TargetGroups,
    )
    const { Listeners } = await client.send(new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }))
    expect(Listeners![0].DefaultActions![0].ForwardConfig!.TargetGroups![0]).toEqual({
      TargetGroupArn: blueArn,
      Weight: 100,
    })
  })

  it('describes target groups and their targets’ health, with the ip target’s address as its id', async () => {
    // When
    const { TargetGroups } = await client.send(
      new sdk.DescribeTargetGroupsCommand({ TargetGroupArns: [blueArn] }),
    )
    // Then
    expect(TargetGroups![0]).toMatchObject({
      TargetGroupArn: blueArn,
      TargetGroupName: 'shop-blue',
      TargetType: 'ip',
      Protocol: 'HTTP',
      HealthCheckPath: '/healthz',
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
      Matcher: { HttpCode: '200' },
      LoadBalancerArns: [emulator.loadBalancerArn],
    })
    // When
    await waitFor(async () => {
      const out = await client.send(new sdk.DescribeTargetHealthCommand({ TargetGroupArn: blueArn }))
      return out.TargetHealthDescriptions![0].TargetHealth!.State === 'healthy'
    }, 5000)
    const { TargetHealthDescriptions } = await client.send(
      new sdk.DescribeTargetHealthCommand({ TargetGroupArn: blueArn }),
    )
    // Then
    expect(TargetHealthDescriptions).toEqual([
      {
        Target: { Id: '127.0.0.1', Port: apps.blue[0].port },
        HealthCheckPort: String(apps.blue[0].port),
        TargetHealth: { State: 'healthy' },
      },
    ])
  })

  describe('registering targets', () => {
    let extra: TestApp | undefined
    afterEach(async () => {
      await extra?.close()
    })

    it('registers a target that then passes its health checks, and deregisters it', async () => {
      // Given
      extra = await startTestApp({ pool: 'green', version: 'green-v2' })
      const target = { Id: '127.0.0.1', Port: extra.port }
      // When
      await client.send(new sdk.RegisterTargetsCommand({ TargetGroupArn: greenArn, Targets: [target] }))
      // Then
      const state = async (): Promise<string | undefined> => {
        const out = await client.send(
          new sdk.DescribeTargetHealthCommand({ TargetGroupArn: greenArn, Targets: [target] }),
        )
        return out.TargetHealthDescriptions![0].TargetHealth!.State
      }
      expect(['initial', 'healthy']).toContain(await state())
      await waitFor(async () => (await state()) === 'healthy', 5000, 'the new target to be healthy')

      // When
      await client.send(new sdk.DeregisterTargetsCommand({ TargetGroupArn: greenArn, Targets: [target] }))
      // Then
      const all = await client.send(new sdk.DescribeTargetHealthCommand({ TargetGroupArn: greenArn }))
      expect(all.TargetHealthDescriptions!.map((d) => d.Target!.Port)).toEqual([apps.green[0].port])
      const asked = await client.send(
        new sdk.DescribeTargetHealthCommand({ TargetGroupArn: greenArn, Targets: [target] }),
      )
      expect(asked.TargetHealthDescriptions![0].TargetHealth).toMatchObject({
        State: 'unused',
        Reason: 'Target.NotRegistered',
      })
    })

    it('refuses an ip target that is not an IP address', async () => {
      // When
      const error = await rejection(
        client.send(
          new sdk.RegisterTargetsCommand({
            TargetGroupArn: greenArn,
            Targets: [{ Id: 'i-0123456789abcdef0', Port: 80 }],
          }),
        ),
      )
      // Then
      expect(error).toBeInstanceOf(sdk.InvalidTargetException)
    })
  })

  it('answers errors in the documented shape, which the SDK turns into its own exception classes', async () => {
    // Given
    const unknownListener = listenerArn.replace(/[0-9a-f]{16}$/, '0000000000000000')
    const unknownGroup = blueArn.replace(/[0-9a-f]{16}$/, '0000000000000000')
    const cases: [string, () => Promise<unknown>, new (...args: never[]) => Error][] = [
      [
        'DescribeListeners, unknown listener',
        () => client.send(new sdk.DescribeListenersCommand({ ListenerArns: [unknownListener] })),
        sdk.ListenerNotFoundException,
      ],
      [
        'ModifyListener, unknown listener',
        () =>
          client.send(
            new sdk.ModifyListenerCommand({
              ListenerArn: unknownListener,
              DefaultActions: [{ Type: 'forward', TargetGroupArn: blueArn }],
            }),
          ),
        sdk.ListenerNotFoundException,
      ],
      [
        'DescribeRules, unknown rule',
        () =>
          client.send(
            new sdk.DescribeRulesCommand({
              RuleArns: [`${unknownListener.replace(':listener/', ':listener-rule/')}/0000000000000000`],
            }),
          ),
        sdk.RuleNotFoundException,
      ],
      [
        'DescribeTargetHealth, unknown target group',
        () => client.send(new sdk.DescribeTargetHealthCommand({ TargetGroupArn: unknownGroup })),
        sdk.TargetGroupNotFoundException,
      ],
      [
        'ModifyListener, forward to an unknown target group',
        () =>
          client.send(
            new sdk.ModifyListenerCommand({
              ListenerArn: listenerArn,
              DefaultActions: [{ Type: 'forward', TargetGroupArn: unknownGroup }],
            }),
          ),
        sdk.TargetGroupNotFoundException,
      ],
      [
        'DescribeLoadBalancers, unknown name',
        () => client.send(new sdk.DescribeLoadBalancersCommand({ Names: ['nope'] })),
        sdk.LoadBalancerNotFoundException,
      ],
      [
        'ModifyListener, forward that is not the last action',
        () =>
          client.send(
            new sdk.ModifyListenerCommand({
              ListenerArn: listenerArn,
              DefaultActions: [
                { Type: 'forward', Order: 1, TargetGroupArn: blueArn },
                { Type: 'fixed-response', Order: 2, FixedResponseConfig: { StatusCode: '503' } },
              ],
            }),
          ),
        sdk.InvalidLoadBalancerActionException,
      ],
      [
        'ModifyRule, the default rule',
        async () => {
          const { Rules } = await client.send(new sdk.DescribeRulesCommand({ ListenerArn: listenerArn }))
          const defaultRule = Rules!.find((r) => r.IsDefault)!
          return client.send(
            new sdk.ModifyRuleCommand({ RuleArn: defaultRule.RuleArn, Actions: defaultRule.Actions }),
          )
        },
        sdk.OperationNotPermittedException,
      ],
    ]
    for (const [what, call, exceptionClass] of cases) {
      // When
      const error = await rejection(call())
      // Then
      expect(error, what).toBeInstanceOf(exceptionClass)
      expect(error.$fault, what).toBe('client')
      expect((error.$metadata as { httpStatusCode: number }).httpStatusCode, what).toBe(400)
      expect(error.message, what).not.toBe('')
    }
    // And: nothing changed the listener
    const { Listeners } = await client.send(new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }))
    expect(Listeners![0].DefaultActions![0].ForwardConfig!.TargetGroups![0]).toEqual({
      TargetGroupArn: blueArn,
      Weight: 100,
    })
  })

  describe('fault injection', () => {
    it('throttles: the SDK retries Throttling and then succeeds', async () => {
      // Given
      emulator.injectFault({ mode: 'throttle', count: 2 })
      // When
      const out = await client.send(new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }))
      // Then
      expect(out.$metadata.attempts).toBe(3)
      expect(out.Listeners).toHaveLength(1)
    })

    it('fails with InternalFailure (500) and AccessDenied (403), only for the actions named', async () => {
      // Given: a client that does not retry
      const { client: once } = await sdkClient(emulator.apiUrl, { maxAttempts: 1 })
      try {
        emulator.injectFault({ mode: '5xx', count: 1 })
        // When
        const internal = await rejection(
          once.send(new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] })),
        )
        // Then
        expect(internal.name).toBe('InternalFailure')
        expect(internal.$fault).toBe('server')
        expect((internal.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(500)

        // Given
        emulator.injectFault({ mode: 'denied', count: 1, actions: ['ModifyListener'] })
        // When: a describe passes, the modify is refused
        await once.send(new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }))
        const denied = await rejection(
          once.send(
            new sdk.ModifyListenerCommand({
              ListenerArn: listenerArn,
              DefaultActions: [{ Type: 'forward', TargetGroupArn: greenArn }],
            }),
          ),
        )
        // Then
        expect(denied.name).toBe('AccessDenied')
        expect((denied.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(403)
        expect(denied.message).toContain('elasticloadbalancing:ModifyListener')
        const { Listeners } = await once.send(
          new sdk.DescribeListenersCommand({ ListenerArns: [listenerArn] }),
        )
        expect(Listeners![0].DefaultActions![0].ForwardConfig!.TargetGroups).toHaveLength(2)
      } finally {
        once.destroy()
      }
    })

    it('slows calls down when asked through the admin endpoint, and says what is queued', async () => {
      // Given
      const queued = await fetch(`${emulator.apiUrl}/_emulator/faults`, {
        method: 'POST',
        body: JSON.stringify({ mode: 'slow', count: 1, delayMs: 400 }),
      })
      expect(queued.status).toBe(200)
      // When
      const started = Date.now()
      await client.send(new sdk.DescribeTargetGroupsCommand({}))
      // Then
      expect(Date.now() - started).toBeGreaterThanOrEqual(390)
      const left = (await (await fetch(`${emulator.apiUrl}/_emulator/faults`)).json()) as {
        queued: unknown[]
      }
      expect(left.queued).toEqual([])
      const bad = await fetch(`${emulator.apiUrl}/_emulator/faults`, {
        method: 'POST',
        body: '{"mode":"explode"}',
      })
      expect(bad.status).toBe(400)
    })
  })
})
