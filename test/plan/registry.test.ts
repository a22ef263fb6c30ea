/**
 * A newcomer adds a phase kind or a provider with one definition and one registration: the plan
 * schema, `plan validate`, `plan show`, the JSON Schema and load-balancer creation all follow
 * from the registries, with nothing else to edit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as z from 'zod'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLoadBalancer, registerProvider, unregisterProvider } from '../../src/lb/index.js'
import { defineProvider, missingPoolKey } from '../../src/lb/provider.js'
import { registerPhase, unregisterPhase } from '../../src/phases/index.js'
import { definePhase } from '../../src/phases/types.js'
import { describeHeader, describePlan, formatSteps } from '../../src/plan/describe.js'
import { planJsonSchema } from '../../src/plan/json-schema.js'
import { loadPlan } from '../../src/plan/load.js'
import { planSchema } from '../../src/plan/schema.js'
import { validatePlanFiles } from '../../src/plan/validate.js'
import { MemoryLoadBalancer } from '../engine/memory-lb.js'

const announce = definePhase({
  kind: 'announce',
  schema: z
    .strictObject({
      channel: z.string().min(1).describe('Where to announce'),
      loud: z.boolean().default(false),
    })
    .describe('Announce the release somewhere'),
  touches: 'none',
  rollbackOnFailure: false,
  describe: (c, words) => ({
    target: '—',
    summary: `announce ${words.fill('{{version}}')} in ${c.channel}${c.loud ? ' loudly' : ''}`,
    details: [],
  }),
  validate: (c, at) =>
    c.channel.startsWith('#')
      ? []
      : [
          {
            path: [...at.path, 'channel'],
            at: 'value',
            message: 'a channel starts with #',
            hint: 'write e.g. "#releases"',
          },
        ],
  run: async (ctx) => `announced in ${ctx.config.channel}`,
})

const memory = defineProvider({
  provider: 'memory',
  schema: z.strictObject({ provider: z.literal('memory'), name: z.string().min(1).describe('Which memory') }),
  poolIssues: (pool, config) => (config.servers ? [] : [missingPoolKey(pool, 'servers', 'list a server')]),
  describe: (lb) => `memory load balancer ${lb.name}`,
  summary: (lb) => `memory ${lb.name}`,
  create: async () => new MemoryLoadBalancer(),
})

let dir: string
const plan = (phases: string, pools = 'blue: { servers: [b1] }\n  green: { servers: [g1] }') =>
  [
    'app: shop',
    'version: 1.2.3',
    'state: { file: state.json }',
    'loadBalancer: { provider: memory, name: lab }',
    'pools:',
    `  ${pools}`,
    'phases:',
    phases,
    '',
  ].join('\n')
const write = (name: string, text: string) => {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bluegreen-registry-'))
  registerPhase(announce)
  registerProvider(memory)
})
afterAll(() => {
  unregisterPhase('announce')
  unregisterProvider('memory')
  rmSync(dir, { recursive: true, force: true })
})

describe('a toy phase kind and a toy provider, through the registries alone', () => {
  it('are part of the plan schema and load with their defaults', async () => {
    const file = write('ok.yaml', plan('  - announce: { channel: "#releases" }\n  - switch:'))
    const { plan: loaded } = await loadPlan(file)
    expect(loaded.loadBalancer).toEqual({ provider: 'memory', name: 'lab' })
    expect(loaded.phases[0]).toEqual({ announce: { channel: '#releases', loud: false } })
    expect(planSchema().safeParse({ ...loaded }).success).toBe(true)
  })

  it('are checked by plan validate: their keys, their own checks, their pool needs', async () => {
    const typo = write('typo.yaml', plan('  - announce: { chanel: "#releases" }'))
    const own = write('own.yaml', plan('  - announce: { channel: releases }'))
    const pools = write(
      'pools.yaml',
      plan('  - announce: { channel: "#r" }', 'blue: {}\n  green: { servers: [g1] }'),
    )
    const unknown = write('unknown.yaml', plan('  - anounce: { channel: "#r" }'))

    const [a, b, c, d] = await validatePlanFiles([typo, own, pools, unknown])

    const messages = (r: typeof a) => (r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message} (${e.hint})`))
    expect(messages(a).join('\n')).toContain('phases[0].announce.chanel: unknown key "chanel"')
    expect(messages(a).join('\n')).toContain('did you mean "channel"?')
    expect(messages(b)).toEqual([
      'phases[0].announce.channel: a channel starts with # (write e.g. "#releases")',
    ])
    expect(messages(c)).toEqual(['pools.blue: pool blue has no servers (list a server)'])
    expect(messages(d).join('\n')).toContain('did you mean "announce"?')
  })

  it('are described by plan show, the toy step in its own words and the switch with the provider’s line', async () => {
    const file = write('show.yaml', plan('  - announce: { channel: "#releases", loud: true }\n  - switch:'))
    const { plan: loaded } = await loadPlan(file)
    const steps = describePlan(loaded, { app: loaded.app, version: loaded.version, pool: 'green' })
    const text = [...describeHeader(file, loaded, steps, dir), ...formatSteps(steps)].join('\n')
    expect(text).toContain('load balancer: memory lab')
    expect(text).toMatch(/1\. announce\s+—\s+announce 1\.2\.3 in #releases loudly/)
    expect(text).toContain('memory load balancer lab')
  })

  it('are in the JSON Schema', () => {
    const schema = JSON.stringify(planJsonSchema())
    expect(schema).toContain('"announce"')
    expect(schema).toContain('Announce the release somewhere')
    expect(schema).toContain('"const":"memory"')
  })

  it('creates the toy adapter by the plan’s provider', async () => {
    const lb = await createLoadBalancer({ provider: 'memory', name: 'lab' }, { blue: {}, green: {} })
    expect(lb).toBeInstanceOf(MemoryLoadBalancer)
  })

  it('leaves no trace once removed: the kind is unknown again', async () => {
    unregisterPhase('announce')
    try {
      const file = write('gone.yaml', plan('  - announce: { channel: "#r" }'))
      const [result] = await validatePlanFiles([file])
      expect(result.ok).toBe(false)
      expect(JSON.stringify(planJsonSchema())).not.toContain('"announce"')
    } finally {
      registerPhase(announce)
    }
  })
})
