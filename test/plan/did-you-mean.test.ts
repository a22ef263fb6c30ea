import { describe, expect, it } from 'vitest'
import { didYouMean, editDistance } from '../../src/format/did-you-mean.js'

describe('did you mean', () => {
  it('counts insertions, deletions, substitutions and transpositions as one edit each', () => {
    expect(editDistance('listenerArn', 'listenerArn')).toBe(0)
    expect(editDistance('lisenerArn', 'listenerArn')).toBe(1)
    expect(editDistance('lsitenerArn', 'listenerArn')).toBe(1)
    expect(editDistance('swtich', 'switch')).toBe(1)
    expect(editDistance('', 'abc')).toBe(3)
  })

  it('suggests the closest key for a typo, ignoring case', () => {
    const keys = ['provider', 'region', 'listenerArn', 'ruleArn', 'endpoint', 'profile']
    expect(didYouMean('lisenerArn', keys)).toBe('listenerArn')
    expect(didYouMean('ListenerARN', keys)).toBe('listenerArn')
    expect(didYouMean('regoin', keys)).toBe('region')
  })

  it('suggests a longer name for a clear abbreviation', () => {
    expect(didYouMean('ver', ['pool', 'version', 'app', 'host'])).toBe('version')
  })

  it('suggests nothing when no candidate is close', () => {
    expect(didYouMean('database', ['pool', 'version', 'app', 'host'])).toBeUndefined()
    expect(didYouMean('x', ['expand', 'backfill'])).toBeUndefined()
  })
})
