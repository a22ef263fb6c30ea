/**
 * Conformance of the ALB emulator with an independent client: the AWS CLI v2 (botocore, from
 * Debian's awscli at /usr/bin/aws; the `aws` on PATH may be another one) drives every call the
 * aws-elbv2 adapter makes, and each JSON answer is checked against the output shape in the ELBv2
 * model that ships with botocore. Then error cases, and hostile requests the CLI would never send,
 * over raw HTTP: the emulator must answer AWS's error codes and keep a consistent state.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BluegreenError } from '../../src/errors.js'
import { parseAlbConfig, startAlbEmulator, type AlbEmulator } from '../../src/local/alb/index.js'
import { awsCall, closeApps, fixtureConfig, haveAwsCli, startPoolApps, type PoolApps } from './alb-support.js'

const modelFile = '/usr/lib/python3/dist-packages/awscli/botocore/data/elbv2/2015-12-01/service-2.json'

interface Shape {
  type: string
  members?: Record<string, { shape: string }>
  member?: { shape: string }
  key?: { shape: string }
  value?: { shape: string }
  enum?: string[]
}
interface Model {
  operations: Record<string, { output?: { shape: string; resultWrapper?: string } }>
  shapes: Record<string, Shape>
}

/** Every field of `value` fits `shapeName` of the model: names, types, enums. */
function fitsShape(model: Model, shapeName: string, value: unknown, path: string, problems: string[]): void {
  const shape = model.shapes[shapeName]
  const wrong = (what: string): void => void problems.push(`${path}: ${what}`)
  switch (shape.type) {
    case 'structure':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return wrong('not an object')
      for (const [key, child] of Object.entries(value)) {
        const member = shape.members?.[key]
        if (!member) wrong(`${key} is not in ${shapeName}`)
        else fitsShape(model, member.shape, child, `${path}.${key}`, problems)
      }
      return
    case 'list':
      if (!Array.isArray(value)) return wrong('not a list')
      value.forEach((item, i) => fitsShape(model, shape.member!.shape, item, `${path}[${i}]`, problems))
      return
    case 'map':
      if (typeof value !== 'object' || value === null) return wrong('not a map')
      for (const child of Object.values(value))
        fitsShape(model, shape.value!.shape, child, `${path}{}`, problems)
      return
    case 'string':
      if (typeof value !== 'string') return wrong(`not a string: ${JSON.stringify(value)}`)
      if (shape.enum && !shape.enum.includes(value)) wrong(`${value} is not one of ${shape.enum.join(', ')}`)
      return
    case 'integer':
    case 'long':
      if (!Number.isInteger(value)) wrong(`not an integer: ${JSON.stringify(value)}`)
      return
    case 'boolean':
      if (typeof value !== 'boolean') wrong(`not a boolean: ${JSON.stringify(value)}`)
      return
    case 'timestamp':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
        wrong(`not a timestamp: ${String(value)}`)
      return
    default:
      wrong(`unexpected shape type ${shape.type}`)
  }
}

describe.runIf(haveAwsCli([modelFile]))(
  'ALB emulator conformance with the AWS CLI v2 and the botocore model',
  () => {
    let apps: PoolApps
    let emulator: AlbEmulator
    let model: Model
    let blueArn: string
    let greenArn: string
    let listenerArn: string

    beforeAll(async () => {
      model = JSON.parse(readFileSync(modelFile, 'utf8')) as Model
      apps = await startPoolApps(1)
      emulator = await startAlbEmulator(fixtureConfig(apps))
      blueArn = emulator.targetGroups.find((tg) => tg.name === 'shop-blue')!.arn
      greenArn = emulator.targetGroups.find((tg) => tg.name === 'shop-green')!.arn
      listenerArn = emulator.listeners[0].arn
    })
    afterAll(async () => {
      await emulator?.close()
      await closeApps(apps)
    })

    /** Runs /usr/bin/aws elbv2 …; resolves with its exit code, parsed stdout and stderr. */
    const aws = (args: string[]) => awsCall(emulator.apiUrl, 'eu-west-1', 'elbv2', args)

    /** The CLI call succeeds, and its answer fits the operation's output shape in the model. */
    async function conforming(operation: string, args: string[]): Promise<Record<string, unknown>> {
      const { code, json, stderr } = await aws(args)
      expect(code, stderr).toBe(0)
      const problems: string[] = []
      fitsShape(model, model.operations[operation].output!.shape, json, operation, problems)
      expect(problems).toEqual([])
      return json
    }

    async function awsError(args: string[]): Promise<string> {
      const { code, stderr } = await aws(args)
      expect(code).not.toBe(0)
      return /An error occurred \(([^)]+)\)/.exec(stderr)?.[1] ?? stderr
    }

    async function raw(body: string): Promise<{ status: number; text: string }> {
      const res = await fetch(emulator.apiUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      })
      return { status: res.status, text: await res.text() }
    }

    const weights = async (): Promise<number[]> => {
      const out = (await conforming('DescribeListeners', [
        'describe-listeners',
        '--listener-arns',
        listenerArn,
      ])) as {
        Listeners: { DefaultActions: { ForwardConfig: { TargetGroups: { Weight: number }[] } }[] }[]
      }
      return out.Listeners[0].DefaultActions[0].ForwardConfig.TargetGroups.map((t) => t.Weight)
    }

    it('answers every call the adapter makes in the shapes of the model', async () => {
      // When / Then: the reads
      await conforming('DescribeListeners', ['describe-listeners', '--listener-arns', listenerArn])
      const rules = (await conforming('DescribeRules', [
        'describe-rules',
        '--listener-arn',
        listenerArn,
      ])) as {
        Rules: { RuleArn: string; IsDefault: boolean }[]
      }
      const rule = rules.Rules.find((r) => !r.IsDefault)!
      await conforming('DescribeRules', ['describe-rules', '--rule-arns', rule.RuleArn])
      await conforming('DescribeTargetGroups', ['describe-target-groups', '--target-group-arns', blueArn])
      await conforming('DescribeTargetHealth', ['describe-target-health', '--target-group-arn', blueArn])
      await conforming('DescribeLoadBalancers', ['describe-load-balancers'])

      // When / Then: the writes, as the adapter sends them (weights, stickiness)
      const forward = (blue: number, green: number, sticky: string): string =>
        JSON.stringify([
          {
            Type: 'forward',
            ForwardConfig: {
              TargetGroups: [
                { TargetGroupArn: blueArn, Weight: blue },
                { TargetGroupArn: greenArn, Weight: green },
              ],
              TargetGroupStickinessConfig: JSON.parse(sticky) as unknown,
            },
          },
        ])
      const modified = (await conforming('ModifyListener', [
        'modify-listener',
        '--listener-arn',
        listenerArn,
        '--default-actions',
        forward(995, 5, '{"Enabled":true,"DurationSeconds":300}'),
      ])) as { Listeners: { DefaultActions: unknown[] }[] }
      expect(JSON.stringify(modified.Listeners[0].DefaultActions)).toContain(
        '"Weight": 995'.replace(': ', ':'),
      )
      expect(await weights()).toEqual([995, 5])
      await conforming('ModifyRule', [
        'modify-rule',
        '--rule-arn',
        rule.RuleArn,
        '--actions',
        forward(0, 100, '{"Enabled":false}'),
      ])
      await conforming('ModifyListener', [
        'modify-listener',
        '--listener-arn',
        listenerArn,
        '--default-actions',
        forward(100, 0, '{"Enabled":false}'),
      ])
      expect(await weights()).toEqual([100, 0])
    })

    it('paginates the Describe calls (PageSize, Marker, NextMarker)', async () => {
      // When: one target group per page (ELBv2's own PageSize), then the next page by its marker
      const first = (await conforming('DescribeTargetGroups', [
        'describe-target-groups',
        '--page-size',
        '1',
      ])) as {
        TargetGroups: { TargetGroupArn: string }[]
        NextMarker?: string
      }
      const next = (await conforming('DescribeTargetGroups', [
        'describe-target-groups',
        '--page-size',
        '1',
        '--marker',
        first.NextMarker ?? '',
      ])) as { TargetGroups: { TargetGroupArn: string }[]; NextMarker?: string }
      // Then
      expect(first.TargetGroups.map((tg) => tg.TargetGroupArn)).toEqual([blueArn])
      expect(next.TargetGroups.map((tg) => tg.TargetGroupArn)).toEqual([greenArn])
      expect(next.NextMarker).toBeUndefined()
      // And: one page at a time, by hand
      const firstRaw = await raw(`Action=DescribeTargetGroups&Version=2015-12-01&PageSize=1`)
      const marker = /<NextMarker>([^<]+)<\/NextMarker>/.exec(firstRaw.text)?.[1]
      expect(marker).toBeDefined()
      const second = await raw(`Action=DescribeTargetGroups&Version=2015-12-01&PageSize=1&Marker=${marker}`)
      expect(second.text).toContain(greenArn)
      expect(second.text).not.toContain('<NextMarker>')
      expect(await raw(`Action=DescribeTargetGroups&Version=2015-12-01&Marker=bogus`)).toMatchObject({
        status: 400,
      })
    })

    it('answers AWS’s error codes for what the CLI sends wrong', async () => {
      const unknownListener = listenerArn.replace(/[0-9a-f]{16}$/, '0000000000000000')
      expect(await awsError(['describe-listeners', '--listener-arns', unknownListener])).toBe(
        'ListenerNotFound',
      )
      expect(
        await awsError(['describe-listeners', '--listener-arns', 'arn:aws:elasticloadbalancing:nope']),
      ).toBe('ValidationError')
      expect(await awsError(['describe-target-health', '--target-group-arn', `${blueArn}x`])).toBe(
        'ValidationError',
      )
      expect(
        await awsError([
          'modify-listener',
          '--listener-arn',
          listenerArn,
          '--default-actions',
          JSON.stringify([
            {
              Type: 'forward',
              ForwardConfig: { TargetGroups: [{ TargetGroupArn: blueArn }, { TargetGroupArn: greenArn }] },
            },
          ]),
        ]),
      ).toBe('ValidationError')
      expect(
        await awsError([
          'register-targets',
          '--target-group-arn',
          blueArn,
          '--targets',
          'Id=not-an-ip,Port=80',
        ]),
      ).toBe('InvalidTarget')
      // And: nothing changed
      expect(await weights()).toEqual([100, 0])
    })

    it('refuses hostile requests with AWS’s codes, never echoes them, and keeps a consistent state', async () => {
      const base = `Version=2015-12-01&ListenerArn=${encodeURIComponent(listenerArn)}`
      const forward = `DefaultActions.member.1.Type=forward&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=${encodeURIComponent(blueArn)}`
      const cases: [string, string, number, string][] = [
        [
          'an unknown parameter',
          `Action=ModifyListener&${base}&${forward}&DefaultActions.member.1.Bad%20Name%3Cx%3E=1`,
          400,
          'ValidationError',
        ],
        [
          'a weight 1.5',
          `Action=ModifyListener&${base}&${forward}&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight=1.5`,
          400,
          'ValidationError',
        ],
        [
          'a weight abc',
          `Action=ModifyListener&${base}&${forward}&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight=abc`,
          400,
          'ValidationError',
        ],
        [
          'a weight +5',
          `Action=ModifyListener&${base}&${forward}&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight=%2B5`,
          400,
          'ValidationError',
        ],
        [
          'a weight 1000',
          `Action=ModifyListener&${base}&${forward}&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight=1000`,
          400,
          'ValidationError',
        ],
        [
          'Enabled=TRUE',
          `Action=ModifyListener&${base}&${forward}&DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled=TRUE`,
          400,
          'ValidationError',
        ],
        [
          'a list that skips a position',
          `Action=ModifyListener&${base}&${forward}&DefaultActions.member.3.Type=forward`,
          400,
          'MalformedQueryString',
        ],
        [
          'a bad condition',
          `Action=ModifyRule&Version=2015-12-01&RuleArn=${encodeURIComponent(emulator.listeners[0].rules[0].arn)}&Conditions.member.1.Field=nope&Conditions.member.1.Values.member.1=x`,
          400,
          'ValidationError',
        ],
        [
          'too many condition values',
          `Action=ModifyRule&Version=2015-12-01&RuleArn=${encodeURIComponent(emulator.listeners[0].rules[0].arn)}&Conditions.member.1.Field=path-pattern${[1, 2, 3, 4, 5, 6].map((i) => `&Conditions.member.1.Values.member.${i}=/p${i}`).join('')}`,
          400,
          'ValidationError',
        ],
        ['Action=constructor', 'Action=constructor&Version=2015-12-01', 400, 'InvalidAction'],
        ['Action=toString', 'Action=toString&Version=2015-12-01', 400, 'InvalidAction'],
        ['Action=valueOf', 'Action=valueOf&Version=2015-12-01', 400, 'InvalidAction'],
        ['Action=__proto__', 'Action=__proto__&Version=2015-12-01', 400, 'InvalidAction'],
        [
          'a 40 KB dotted key',
          `Action=DescribeListeners&Version=2015-12-01&${'a.'.repeat(20_000)}b=1`,
          400,
          'MalformedQueryString',
        ],
        [
          'a parameter named __proto__',
          `Action=DescribeListeners&Version=2015-12-01&__proto__.x=1&LoadBalancerArn=${encodeURIComponent(emulator.loadBalancerArn)}`,
          400,
          'ValidationError',
        ],
      ]
      for (const [what, body, status, code] of cases) {
        // When
        const answer = await raw(body)
        // Then
        expect(answer.status, what).toBe(status)
        expect(answer.text, what).toContain(`<Code>${code}</Code>`)
        expect(answer.text, what).not.toContain('Bad Name<x>')
        expect(answer.text, what).not.toContain('<x>')
      }
      // And: a body over 1 MiB gets 413, not a reset
      expect((await raw(`Action=DescribeListeners&x=${'y'.repeat(2 * 1024 * 1024)}`)).status).toBe(413)
      // And: the CLI still parses every answer, and nothing changed
      expect(await weights()).toEqual([100, 0])
      await conforming('DescribeRules', ['describe-rules', '--listener-arn', listenerArn])
    })

    it('accepts IPv6 targets, and marks the load balancer’s own address unusable (Target.IpUnusable)', async () => {
      // When
      const own = `Id=127.0.0.1,Port=${emulator.listeners[0].port}`
      await conforming('RegisterTargets', [
        'register-targets',
        '--target-group-arn',
        greenArn,
        '--targets',
        own,
        'Id=::1,Port=8080',
      ])
      const health = (await conforming('DescribeTargetHealth', [
        'describe-target-health',
        '--target-group-arn',
        greenArn,
      ])) as {
        TargetHealthDescriptions: {
          Target: { Id: string; Port: number }
          TargetHealth: { State: string; Reason?: string }
        }[]
      }
      // Then
      const of = (id: string) => health.TargetHealthDescriptions.find((d) => d.Target.Id === id)
      expect(of('::1')?.Target.Port).toBe(8080)
      expect(of('127.0.0.1')?.TargetHealth).toBeDefined()
      const self = health.TargetHealthDescriptions.find((d) => d.Target.Port === emulator.listeners[0].port)
      expect(self?.TargetHealth).toMatchObject({ State: 'unused', Reason: 'Target.IpUnusable' })
      await conforming('DeregisterTargets', [
        'deregister-targets',
        '--target-group-arn',
        greenArn,
        '--targets',
        own,
        'Id=::1,Port=8080',
      ])
    })

    it('refuses a config whose target port is out of range, or whose health checks are faster than AWS allows, with a usage error', () => {
      const config = fixtureConfig(apps, (c) => {
        c.targetGroups[0].targets = ['127.0.0.1:99999']
      })
      expect(() => parseAlbConfig(config)).toThrow(BluegreenError)
      const slow = fixtureConfig(apps, (c) => {
        delete (c as { fastHealthChecks?: boolean }).fastHealthChecks
      })
      const error = (() => {
        try {
          parseAlbConfig(slow)
        } catch (e) {
          return e as BluegreenError
        }
        return undefined
      })()
      expect(error?.code).toBe('USAGE')
      expect(error?.details.join('\n')).toContain('fastHealthChecks')
    })
  },
)
