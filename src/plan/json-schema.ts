/**
 * The plan format as JSON Schema, generated from the zod schema (so editors and the validator
 * can never disagree). plans/plan.schema.json is this output, checked in; a test fails when it
 * is stale. Input shape: keys with defaults are optional, as a plan author sees them.
 */
import * as z from 'zod'
import { planSchema } from './schema.js'

export function planJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(planSchema(), { io: 'input', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >
  const { $schema, ...rest } = generated
  // Top-level `x-` keys are ignored by the loader (a home for YAML anchors); say so to editors.
  return { $schema, title: 'bluegreen plan', ...rest, patternProperties: { '^x-': {} } }
}
