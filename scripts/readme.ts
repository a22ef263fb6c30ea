/**
 * Writes the README's generated sections from the code they describe, so they cannot drift:
 *   plan-reference  every plan key, from the zod schemas (src/format/parts.ts and the phase and
 *                   provider registries, src/phases/index.ts and src/lb/index.ts)
 *   lint-rules      the linter's rules with an example of each, from `lintRules` (src/db/lint)
 *
 *   node --import tsx scripts/readme.ts           rewrite README.md between the markers
 *   node --import tsx scripts/readme.ts --check   exit 1 if README.md is stale (test/scripts/readme.test.ts does this)
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as z from 'zod'
import { lintRules } from '../src/db/lint/index.js'
import { durationPattern } from '../src/format/duration.js'
import { Check, Database, Pool, State } from '../src/format/parts.js'
import { providerDefinitions } from '../src/lb/index.js'
import { Webhook } from '../src/notify/schema.js'
import { phaseDefinitions } from '../src/phases/index.js'
import { planSchema } from '../src/plan/schema.js'

export const readmePath = join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md')

interface JsonSchema {
  type?: string
  description?: string
  default?: unknown
  pattern?: string
  format?: string
  enum?: unknown[]
  const?: unknown
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  items?: JsonSchema
  properties?: Record<string, JsonSchema>
  additionalProperties?: JsonSchema | boolean
  required?: string[]
}

const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input' }) as JsonSchema

/** Replaces the text between `<!-- generated: NAME … -->` and `<!-- end generated: NAME -->`. */
export function renderReadme(readme: string): string {
  return [
    ['plan-reference', planReference()],
    ['lint-rules', lintRuleList()],
  ].reduce((text, [name, body]) => {
    const pattern = new RegExp(
      `(<!-- generated: ${name}[^\\n]*-->\\n)[\\s\\S]*?(<!-- end generated: ${name} -->)`,
    )
    if (!pattern.test(text)) throw new Error(`README.md has no markers for the generated section ${name}`)
    return text.replace(pattern, (_match, begin: string, end: string) => `${begin}${body}\n${end}`)
  }, readme)
}

/**
 * Meanings for the keys whose schema has no description (section/key). The schema's own
 * description wins, so a key that gains one there stops using this.
 */
const undescribed: Record<string, string> = {
  'backfill/table': 'The table to update',
  'backfill/batchSize': 'Rows per batch; each batch is one short transaction',
  'deploy/shell': 'Run `run`, a single string, through /bin/sh -c',
  'deploy/env': 'Extra environment for the command (it also gets BLUEGREEN_POOL, BLUEGREEN_VERSION, …)',
  'deploy/timeout': 'How long the command may run',
  'smoke/scheme': 'Protocol used to reach each target',
  'smoke/concurrency': 'Requests in flight at once (checks × targets)',
  'smoke/checks': 'The HTTP checks (below), each sent to every target',
  'verify/interval': 'Time between samples',
  'verify/maxErrorRatio': 'Largest share of failed samples that still passes',
  'contract/dir': 'Directory of this release’s contract .sql files',
  'exec/name': 'Shown in the output',
  'exec/shell': 'Run `run`, a single string, through /bin/sh -c',
  'exec/env': 'Extra environment for the command',
  'exec/timeout': 'How long the command may run',
  'check/name': 'Shown in the output',
  'check/method': 'HTTP method',
  'check/path': 'Path requested on each target',
  'check/headers': 'Request headers',
  'check/body': 'Request body',
  'expect/bodyContains': 'Text the body must contain',
  'expect/maxLatency': 'Slowest acceptable answer',
}

function planReference(): string {
  const sections: string[] = []
  const table = (section: string, title: string, schema: JsonSchema, skip: string[] = []) =>
    sections.push(
      `**${title}**${schema.description ? ` — ${schema.description}` : ''}\n\n${keyTable(section, schema, skip)}`,
    )
  table('plan', 'Top level', jsonSchema(planSchema()), ['$schema'])
  table('database', '`database`', jsonSchema(Database))
  table('state', '`state`', jsonSchema(State))
  for (const { provider, schema } of providerDefinitions()) {
    table(provider, `\`loadBalancer\` with \`provider: ${provider}\``, jsonSchema(schema as z.ZodType), [
      'provider',
    ])
  }
  table('pool', '`pools.blue`, `pools.green`', jsonSchema(Pool))
  for (const { kind, schema } of phaseDefinitions())
    table(kind, `\`- ${kind}:\``, jsonSchema(schema as z.ZodType))
  table('webhook', 'A webhook (`notify[]`)', jsonSchema(Webhook))
  const check = jsonSchema(Check)
  table('check', 'A smoke check (`smoke.checks[]`)', check)
  table('expect', '`expect` (in a smoke check, and in `verify`)', check.properties?.expect ?? {})
  return details('Every key of a plan: type, default and meaning', sections.join('\n\n'))
}

function keyTable(section: string, schema: JsonSchema, skip: string[]): string {
  const required = new Set(schema.required ?? [])
  const rows = Object.entries(schema.properties ?? {})
    .filter(([key]) => !skip.includes(key))
    .map(([key, property]) => {
      const given =
        property.default !== undefined
          ? `\`${display(property.default)}\``
          : required.has(key)
            ? 'required'
            : 'optional'
      const meaning = describe(property) || undescribed[`${section}/${key}`] || ''
      return `| \`${key}\` | ${typeName(property)} | ${given} | ${meaning} |`
    })
  return ['| key | type | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n')
}

function typeName(schema: JsonSchema): string {
  const alternatives = schema.anyOf ?? schema.oneOf
  if (alternatives) return [...new Set(alternatives.map(typeName))].join(' or ')
  if (schema.pattern === durationPattern.source) return 'duration'
  if (schema.enum) return schema.enum.map((v) => `\`${display(v)}\``).join(' \\| ')
  if (schema.const !== undefined) return `\`${display(schema.const)}\``
  if (schema.format === 'uri') return 'URL'
  switch (schema.type) {
    case 'array':
      return `list of ${schema.items ? plural(typeName(schema.items)) : 'values'}`
    case 'object':
      return typeof schema.additionalProperties === 'object' ? 'map of strings' : 'object'
    case 'integer':
      return 'integer'
    case undefined:
      return 'any value'
    default:
      return schema.type
  }
}

function plural(type: string): string {
  return /^(string|integer|number|object|boolean)$/.test(type) ? `${type}s` : type
}

/** The schema's own words; the generic description every duration carries says nothing here. */
function describe(schema: JsonSchema): string {
  const text = schema.description ?? ''
  return (text.startsWith('A duration:') ? '' : text).replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function display(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** Folded on GitHub, so the README stays readable top to bottom. */
function details(summary: string, body: string): string {
  return `<details>\n<summary>${summary}</summary>\n\n${body}\n\n</details>`
}

function lintRuleList(): string {
  const list = lintRules
    .map((rule) =>
      [
        `- <a id="lint-rule-${rule.id}"></a>**\`${rule.id}\`** (${rule.severity}; ${rule.phases.join(' and ')}): ${rule.summary} Instead: ${rule.hint}.`,
        '',
        '  ```sql',
        '  -- flagged',
        ...indent(rule.example.unsafe),
        '  -- passes',
        ...indent(rule.example.safe),
        '  ```',
      ].join('\n'),
    )
    .join('\n\n')
  return details(`All ${lintRules.length} rules, with an example of each`, list)
}

function indent(sql: string): string[] {
  return sql.split('\n').map((line) => `  ${line}`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(readmePath, 'utf8')
  const rendered = renderReadme(current)
  if (process.argv.includes('--check')) {
    if (rendered !== current) {
      process.stderr.write('README.md is stale: run `node --import tsx scripts/readme.ts`\n')
      process.exit(1)
    }
  } else if (rendered !== current) {
    writeFileSync(readmePath, rendered)
    process.stdout.write('README.md: generated sections updated\n')
  } else process.stdout.write('README.md: up to date\n')
}
