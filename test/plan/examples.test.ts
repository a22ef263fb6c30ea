import { readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadPlan } from '../../src/plan/load.js'

const plans = resolve(import.meta.dirname, '../../plans')
const examples = readdirSync(plans).filter((name) => name.endsWith('.yaml'))

describe('example plans', () => {
  it('include the demo and one plan per load balancer', () => {
    expect(examples.sort()).toEqual(['aws-alb.yaml', 'demo.yaml', 'haproxy.yaml', 'nginx.yaml'])
  })

  it.each(examples)(
    '%s is valid with no environment variables set (every ${VAR} has a default)',
    async (name) => {
      const { plan } = await loadPlan(resolve(plans, name), { env: {} })
      expect(plan.phases.length).toBeGreaterThan(0)
    },
  )

  it('demo.yaml uses the local emulator and database unless the environment says otherwise', async () => {
    const defaults = await loadPlan(resolve(plans, 'demo.yaml'), { env: {} })
    expect(defaults.plan.database?.url).toBe('postgres://postgres@127.0.0.1:5432/bluegreen_demo')
    expect(defaults.plan.loadBalancer).toMatchObject({
      provider: 'aws-elbv2',
      endpoint: 'http://127.0.0.1:4566',
    })

    const overridden = await loadPlan(resolve(plans, 'demo.yaml'), {
      env: {
        BLUEGREEN_ALB_ENDPOINT: 'http://127.0.0.1:14566',
        DATABASE_URL: 'postgres://127.0.0.1:15432/demo',
      },
    })
    expect(overridden.plan.loadBalancer).toMatchObject({ endpoint: 'http://127.0.0.1:14566' })
    expect(overridden.plan.database?.url).toBe('postgres://127.0.0.1:15432/demo')
    expect(overridden.hash).not.toBe(defaults.hash)
  })
})
