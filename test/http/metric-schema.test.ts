/**
 * The verify phase's metric keys, as a plan author writes them: one query or a list, max and/or
 * min (at least one), `for` as a duration, alarm names within CloudWatch's limits, and
 * `cloudwatch` only beside `cloudwatchAlarms`.
 */
import * as z from 'zod'
import { describe, expect, it } from 'vitest'
import { checkVerifyMetrics, prometheusChecks, VerifyMetrics } from '../../src/http/metric-schema.js'

const Keys = VerifyMetrics.superRefine(checkVerifyMetrics)

function issues(input: unknown): string[] {
  const result = Keys.safeParse(input)
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

const query = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'

describe('verify metric keys', () => {
  it('takes one query or a list, and defaults `for` to 0s', () => {
    const one = Keys.parse({ prometheus: { url: 'http://prometheus:9090', query, max: 0.05 } })
    expect(prometheusChecks(one)).toEqual([{ url: 'http://prometheus:9090', query, max: 0.05, for: '0s' }])
    const many = Keys.parse({
      prometheus: [
        { url: 'http://prometheus:9090', query, max: 0.05, for: '30s' },
        { url: 'http://prometheus:9090', query: 'sum(rate(http_requests_total[1m]))', min: 1, max: 500 },
      ],
    })
    expect(prometheusChecks(many).map((c) => [c.min, c.max, c.for])).toEqual([
      [undefined, 0.05, '30s'],
      [1, 500, '0s'],
    ])
    expect(prometheusChecks(Keys.parse({}))).toEqual([])
  })

  it('needs max or min, and min not above max', () => {
    expect(issues({ prometheus: { url: 'http://p:9090', query } })).toEqual([
      'prometheus: give max, min or both: a query without a bound can never fail',
    ])
    expect(issues({ prometheus: { url: 'http://p:9090', query, min: 2, max: 1 } })).toEqual([
      'prometheus: min must not be greater than max',
    ])
  })

  it('rejects unknown keys, a bad duration, an empty query and a non-HTTP URL', () => {
    expect(issues({ prometheus: { url: 'http://p:9090', query, max: 1, treshold: 1 } }).join()).toContain(
      'treshold',
    )
    expect(
      issues({ prometheus: { url: 'http://p:9090', query, max: 1, for: '5 minutes' } }).join(),
    ).toContain('expected a duration')
    expect(issues({ prometheus: { url: 'http://p:9090', query: '', max: 1 } })).not.toEqual([])
    expect(issues({ prometheus: { url: 'ftp://p:9090', query, max: 1 } })).not.toEqual([])
  })

  it('checks alarm names: 1 to 255 characters, at most 100, none twice', () => {
    expect(issues({ cloudwatchAlarms: ['shop-5xx', 'shop-latency'] })).toEqual([])
    expect(issues({ cloudwatchAlarms: [] })).not.toEqual([])
    expect(issues({ cloudwatchAlarms: ['x'.repeat(256)] })).not.toEqual([])
    expect(issues({ cloudwatchAlarms: Array.from({ length: 101 }, (_, i) => `a${i}`) })).not.toEqual([])
    expect(issues({ cloudwatchAlarms: ['a', 'a'] })).toEqual(['cloudwatchAlarms: an alarm is listed twice'])
  })

  it('takes region and endpoint for CloudWatch, only beside cloudwatchAlarms', () => {
    expect(
      issues({
        cloudwatchAlarms: ['a'],
        cloudwatch: { region: 'eu-west-1', endpoint: 'http://127.0.0.1:4566' },
      }),
    ).toEqual([])
    expect(issues({ cloudwatch: { region: 'eu-west-1' } })).toEqual([
      'cloudwatch: cloudwatch only says where cloudwatchAlarms live; list the alarms in cloudwatchAlarms',
    ])
    expect(issues({ cloudwatchAlarms: ['a'], cloudwatch: { region: 'Ireland' } }).join()).toContain(
      'expected a region',
    )
  })

  it('describes every field in the JSON Schema the plan schema is generated into', () => {
    const schema = z.toJSONSchema(VerifyMetrics, { io: 'input', target: 'draft-2020-12' }) as {
      properties: Record<string, unknown>
    }
    const undescribed: string[] = []
    const walk = (node: unknown, path: string): void => {
      if (!node || typeof node !== 'object') return
      const n = node as {
        properties?: Record<string, { description?: string }>
        anyOf?: unknown[]
        items?: unknown
      }
      for (const [key, child] of Object.entries(n.properties ?? {})) {
        if (!child.description) undescribed.push(`${path}.${key}`)
        walk(child, `${path}.${key}`)
      }
      n.anyOf?.forEach((c, i) => walk(c, `${path}|${i}`))
      walk(n.items, `${path}[]`)
    }
    walk(schema, 'verify')
    expect(undescribed).toEqual([])
    expect(Object.keys(schema.properties)).toEqual(['prometheus', 'cloudwatchAlarms', 'cloudwatch'])
  })
})
