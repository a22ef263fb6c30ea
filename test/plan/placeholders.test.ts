import { describe, expect, it } from 'vitest'
import { fillPlaceholders, fillPlaceholdersDeep, findPlaceholders } from '../../src/format/placeholders.js'

describe('placeholders', () => {
  it('fills the placeholders it is given and leaves the others as written', () => {
    expect(fillPlaceholders('./deploy.sh {{pool}} {{version}}', { pool: 'green' })).toBe(
      './deploy.sh green {{version}}',
    )
    expect(fillPlaceholders('{{ app }}-{{host}}', { app: 'shop', host: '10.0.0.1' })).toBe('shop-10.0.0.1')
  })

  it('leaves Go-template text alone', () => {
    const format = "docker inspect -f '{{.State.Status}}' shop-{{pool}}"
    expect(fillPlaceholders(format, { pool: 'blue' })).toBe("docker inspect -f '{{.State.Status}}' shop-blue")
    expect(findPlaceholders(format).map((p) => p.name)).toEqual(['pool'])
  })

  it('finds unknown names too, so the loader can report them', () => {
    expect(findPlaceholders('{{ver}} and {{pool}}')).toEqual([
      { name: 'ver', index: 0, text: '{{ver}}' },
      { name: 'pool', index: 12, text: '{{pool}}' },
    ])
  })

  it('fills every string of a nested value and returns a copy', () => {
    const check = { path: '/version', expect: { bodyContains: '{{version}}', status: [200] } }
    const filled = fillPlaceholdersDeep(check, { version: '1.4.2' })
    expect(filled).toEqual({ path: '/version', expect: { bodyContains: '1.4.2', status: [200] } })
    expect(check.expect.bodyContains).toBe('{{version}}')
  })
})
