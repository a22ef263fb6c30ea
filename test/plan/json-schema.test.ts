import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { planJsonSchema } from '../../src/plan/json-schema.js'

describe('plans/plan.schema.json', () => {
  it('is the JSON Schema generated from the zod schema (regenerate: node bin/run.js plan schema > plans/plan.schema.json)', () => {
    const checkedIn: unknown = JSON.parse(
      readFileSync(resolve(import.meta.dirname, '../../plans/plan.schema.json'), 'utf8'),
    )
    expect(checkedIn).toEqual(planJsonSchema())
  })

  it('describes the input a plan author writes: defaults optional, unknown keys refused', () => {
    const schema = planJsonSchema() as {
      required: string[]
      additionalProperties: boolean
      properties: Record<string, { properties?: Record<string, unknown>; required?: string[] }>
    }
    expect(schema.required).toEqual(['app', 'loadBalancer', 'pools', 'phases'])
    expect(schema.additionalProperties).toBe(false)
    expect(schema.properties.database.required).toEqual(['url'])
  })
})
