import { describe, expect, it } from 'vitest'
import { evaluate, excerpt, prepareExpect, type HttpAnswer } from '../../src/http/expect.js'
import { isBluegreenError } from '../../src/errors.js'

function answer(overrides: Partial<HttpAnswer> = {}): HttpAnswer {
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-version': '2.0.0' },
    body: JSON.stringify({ build: { version: '2.0.0', number: 42 }, items: [{ id: 'a' }] }),
    latencyMs: 30,
    ...overrides,
  }
}

const vars = { version: '2.0.0' }

describe('expectations shared by smoke and verify', () => {
  it('accepts any 2xx by default and names the status otherwise', () => {
    expect(evaluate({}, answer({ status: 204 }), vars)).toEqual([])
    expect(evaluate({}, answer({ status: 302 }), vars)).toEqual(['status 302, expected 2xx'])
    expect(evaluate({ status: 302 }, answer({ status: 302 }), vars)).toEqual([])
    expect(evaluate({ status: [200, 204] }, answer({ status: 500 }), vars)).toEqual([
      'status 500, expected one of 200, 204',
    ])
  })

  it('compares headers case-insensitively by name, exactly or by pattern, with vars filled', () => {
    expect(evaluate({ headers: { 'X-Version': '{{version}}' } }, answer(), vars)).toEqual([])
    expect(evaluate({ headers: { 'x-version': '1.0.0' } }, answer(), vars)).toEqual([
      'header x-version is "2.0.0", expected "1.0.0"',
    ])
    expect(evaluate({ headers: { 'x-pool': 'green' } }, answer(), vars)).toEqual([
      'header x-pool is missing, expected "green"',
    ])
    expect(evaluate({ headersMatch: { 'content-type': '^application/json' } }, answer(), vars)).toEqual([])
  })

  it('escapes variables inside patterns, so 2.0.0 does not match 2x0y0', () => {
    const lookalike = answer({ headers: { 'x-version': '2x0y0' }, body: 'v2x0y0' })
    expect(evaluate({ headersMatch: { 'x-version': '^{{version}}$' } }, lookalike, vars)).toEqual([
      'header x-version is "2x0y0", expected to match ^2\\.0\\.0$',
    ])
    expect(evaluate({ bodyMatches: 'v{{version}}' }, lookalike, vars)).toEqual([
      'body does not match v2\\.0\\.0',
    ])
  })

  it('checks the body by substring and pattern', () => {
    expect(evaluate({ bodyContains: '"version":"{{version}}"' }, answer(), vars)).toEqual([])
    expect(evaluate({ bodyContains: 'nope' }, answer(), vars)).toEqual(['body does not contain "nope"'])
    expect(evaluate({ bodyMatches: '"number":\\d+' }, answer(), vars)).toEqual([])
  })

  it('reads JSON values at dotted paths and compares them deeply', () => {
    const json = [
      { path: 'build.version', equals: '{{version}}' },
      { path: 'build.number', equals: 42 },
      { path: 'items[0]', equals: { id: 'a' } },
      { path: 'items.0.id', equals: 'a' },
    ]
    expect(evaluate({ json }, answer(), vars)).toEqual([])
    expect(evaluate({ json: [{ path: 'build.number', equals: '42' }] }, answer(), vars)).toEqual([
      'json build.number is 42, expected "42"',
    ])
    expect(evaluate({ json: [{ path: 'build.sha', equals: 'x' }] }, answer(), vars)).toEqual([
      'json build.sha is missing, expected "x"',
    ])
    expect(evaluate({ json: [{ path: 'a', equals: 1 }] }, answer({ body: '<html>' }), vars)).toEqual([
      'body is not JSON',
    ])
  })

  it('enforces a latency limit and reports every problem at once', () => {
    const slow = answer({ status: 500, latencyMs: 812 })
    expect(evaluate({ maxLatency: '500ms', bodyContains: 'x' }, slow, vars)).toEqual([
      'status 500, expected 2xx',
      'body does not contain "x"',
      'took 812ms, limit 500ms',
    ])
  })

  it('refuses placeholders without a value and broken patterns up front', () => {
    const unknown = (() => {
      try {
        return prepareExpect({ bodyContains: '{{sha}}' }, vars, 'smoke.checks[1].expect')
      } catch (error) {
        return error
      }
    })()
    expect(isBluegreenError(unknown) && unknown.message).toBe(
      'smoke.checks[1].expect.bodyContains: no value for {{sha}}',
    )
    expect(() => prepareExpect({ bodyMatches: '(' }, vars)).toThrow(
      'expect.bodyMatches: not a valid regular expression: (',
    )
  })

  it('leaves Go-template text alone: only identifier-like names are placeholders', () => {
    const gotemplate = answer({ body: 'format {{.State.Status}} ok' })
    expect(evaluate({ bodyContains: '{{.State.Status}}' }, gotemplate, vars)).toEqual([])
  })

  it('keeps excerpts short and on one line', () => {
    expect(excerpt('a\n  b\tc')).toBe('a b c')
    expect(excerpt('x'.repeat(500))).toHaveLength(201)
  })
})
