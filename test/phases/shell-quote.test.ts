/**
 * Placeholders in a `shell: true` command are one literal word wherever they stand: run through
 * the real /bin/sh with hostile values, the script prints each value back and runs nothing else.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fillCommand } from '../../src/phases/command-env.js'

const dir = mkdtempSync(join(tmpdir(), 'bluegreen-shell-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const marker = join(dir, 'pwned')

const hostile = [
  `$(touch ${marker})`,
  `\`touch ${marker}\``,
  `1.0;touch ${marker}`,
  `1.0 && touch ${marker}`,
  `1.0 | touch ${marker}`,
  `a'b"c\\d $HOME`,
  `'; touch ${marker}; '`,
  `"; touch ${marker}; "`,
  'line\nnext',
  '*',
  '',
]

/** Each script prints the placeholder's value between [ and ]. */
const scripts = [
  `printf '[%s]' {{version}}`,
  `printf '[%s]' '{{version}}'`,
  `printf '[%s]' "{{version}}"`,
  `printf '[%s]' "$(printf '%s' {{version}})"`,
  `printf '[%s]' {{version}} # it's {{version}}`,
]

describe('shell: true commands get their placeholders quoted', () => {
  it.each(scripts)('%s', (script) => {
    for (const value of hostile) {
      const filled = fillCommand(script, { version: value, pool: 'green', app: 'shop' }, true)
      expect(typeof filled).toBe('string')
      const out = execFileSync('/bin/sh', ['-c', filled as string], { cwd: dir }).toString()
      expect(out, `${script} with ${JSON.stringify(value)}`).toBe(`[${value}]`)
      expect(existsSync(marker), `${script} with ${JSON.stringify(value)} ran code`).toBe(false)
    }
  })

  it('leaves plain values as they were, so plans that quote them still work', () => {
    expect(fillCommand(`./deploy.sh {{pool}} "{{version}}"`, { pool: 'green', version: '2.4.0' }, true)).toBe(
      `./deploy.sh green "2.4.0"`,
    )
  })

  it('fills argv commands as they are: no shell reads them', () => {
    expect(fillCommand(['./deploy.sh', '{{version}}'], { version: `a'b` })).toEqual(['./deploy.sh', `a'b`])
  })
})
