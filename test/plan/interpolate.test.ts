import { describe, expect, it } from 'vitest'
import { interpolate } from '../../src/plan/interpolate.js'

describe('interpolate', () => {
  it('fills ${VAR} from the environment', () => {
    const result = interpolate('postgres://${DB_HOST}:5432/shop', { DB_HOST: 'db.internal' })
    expect(result).toEqual({
      value: 'postgres://db.internal:5432/shop',
      problems: [],
      variables: ['DB_HOST'],
    })
  })

  it('uses the default when the variable is unset or empty, like the shell', () => {
    expect(interpolate('${PORT:-8080}', {}).value).toBe('8080')
    expect(interpolate('${PORT:-8080}', { PORT: '' }).value).toBe('8080')
    expect(interpolate('${PORT:-8080}', { PORT: '9090' }).value).toBe('9090')
    expect(interpolate('${URL:-http://127.0.0.1:4566}', {}).value).toBe('http://127.0.0.1:4566')
  })

  it('keeps a set but empty variable without a default as empty', () => {
    expect(interpolate('a${EMPTY}b', { EMPTY: '' })).toMatchObject({ value: 'ab', problems: [] })
  })

  it('reports an unset variable with its name and offset', () => {
    const result = interpolate('url: ${DATABASE_URL}', {})
    expect(result.problems).toEqual([
      expect.objectContaining({ index: 5, text: '${DATABASE_URL}', variable: 'DATABASE_URL' }),
    ])
    expect(result.problems[0].message).toBe('environment variable DATABASE_URL is not set')
    expect(result.problems[0].hint).toContain('${DATABASE_URL:-value}')
  })

  it('writes $${ as a literal ${ and leaves $NAME without braces alone', () => {
    expect(interpolate('echo $${HOME} $HOME $', {}).value).toBe('echo ${HOME} $HOME $')
  })

  it('reports malformed references instead of guessing', () => {
    expect(interpolate('${}', {}).problems[0].message).toBe('"${}" is not a variable reference')
    expect(interpolate('${A B}', {}).problems[0].message).toBe('"${A B}" is not a variable reference')
    expect(interpolate('x ${OPEN', {}).problems[0].message).toBe('unclosed variable reference "${OPEN"')
    expect(interpolate('${A:-${B}}', {}).problems[0].message).toMatch(/nested variable references/)
  })
})
