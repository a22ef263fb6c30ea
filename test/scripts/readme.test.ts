/**
 * The README's generated sections (every plan key, the linter's rules) match the code they
 * describe. When this fails: node --import tsx scripts/readme.ts
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { lintRules } from '../../src/db/lint/index.js'
import { phaseKinds } from '../../src/plan/schema.js'
import { readmePath, renderReadme } from '../../scripts/readme.js'

const readme = readFileSync(readmePath, 'utf8')

describe('README.md', () => {
  it('has its generated sections up to date', () => {
    expect(renderReadme(readme) === readme, 'stale: run `node --import tsx scripts/readme.ts`').toBe(true)
  })

  it('lists every linter rule with both examples, and every phase with its keys', () => {
    for (const rule of lintRules) {
      expect(readme).toContain(`**\`${rule.id}\`**`)
      expect(readme).toContain(rule.example.unsafe.split('\n')[0])
      expect(readme).toContain(rule.example.safe.split('\n')[0])
    }
    for (const kind of phaseKinds()) expect(readme).toContain(`**\`- ${kind}:\`**`)
  })

  it('starts with the two commands a newcomer runs', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
    expect(firstBlock).toMatch(/^npm install && npx bluegreen demo\b/m)
    expect(firstBlock).toMatch(/^npm test\b/m)
    expect(readme.indexOf(firstBlock)).toBeLessThan(300)
  })

  it('refuses a README without the markers rather than dropping a section', () => {
    expect(() => renderReadme('# bluegreen\n')).toThrow(/no markers for the generated section plan-reference/)
  })
})
