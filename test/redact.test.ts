/**
 * The one redaction (src/redact.ts): each secret form of issue 15, in the places it turns up
 * (a URL, a libpq string, a deploy's argv, a header, an env dump, JSON), and what must survive.
 */
import { describe, expect, it } from 'vitest'
import {
  isSecretName,
  redact,
  redactDeep,
  redactJson,
  registerEnvSecrets,
  registerSecretsIn,
} from '../src/redact.js'

describe('redact: secrets by their shape', () => {
  const cases: [string, string, string][] = [
    // [form, text, the secret that must be gone]
    ['URL password', 'cannot connect to postgres://app:Pw-8f3k@db:5432/shop', 'Pw-8f3k'],
    ['URL password holding a raw @', 'postgres://app:p@ss-w0rd@db/shop', 'ss-w0rd'],
    ['token as URL user', 'git clone https://ghp_0123456789abcdefghijABCD@github.com/x.git', 'ghp_0123'],
    ['password query parameter', 'postgres://db/shop?user=app&password=Qw-91ab&sslmode=require', 'Qw-91ab'],
    ['sslpassword query parameter', 'postgres://db/shop?sslpassword=Ssl-77aa', 'Ssl-77aa'],
    ['libpq keyword string', 'host=db port=5432 password=Lq-55zz user=app', 'Lq-55zz'],
    ['libpq quoted value', "host=db password='a b c-9' dbname=x", 'a b c-9'],
    ['?token=', 'GET https://api.example.com/v1?token=Tk-1a2b3c&page=2', 'Tk-1a2b3c'],
    ['&api_key=', 'https://x/y?a=1&api_key=Ak-99ff', 'Ak-99ff'],
    ['apikey, case-insensitive', 'https://x/y?APIKEY=Ak-88ee', 'Ak-88ee'],
    ['access_token', 'https://x/cb#access_token=At-77dd&state=1', 'At-77dd'],
    ['key', 'https://maps/x?key=Mk-66cc', 'Mk-66cc'],
    ['secret', 'https://x/y?client_secret=Cs-55bb', 'Cs-55bb'],
    ['sig (Azure SAS)', 'https://acct.blob.core.windows.net/c/b?sv=2020&sig=Az%2Bsig%3D', 'Az%2Bsig'],
    ['X-Amz-Signature', 'https://b.s3.amazonaws.com/o?X-Amz-Signature=5f3a9c0e&X-Amz-Date=1', '5f3a9c0e'],
    ['X-Amz-Credential', 'https://b.s3/o?X-Amz-Credential=ASIAXYZ%2F2026%2Fus', 'ASIAXYZ'],
    ['X-Amz-Security-Token', 'https://b.s3/o?x-amz-security-token=FwoGZXIvYXdz', 'FwoGZXIvYXdz'],
    ['--token=', './deploy.sh green 2.0 --token=Dt-4455', 'Dt-4455'],
    ['--password VALUE', 'psql --password Pp-3344 -h db', 'Pp-3344'],
    ['--api-key "VALUE"', 'notify --api-key "Nk 2233"', 'Nk 2233'],
    ['-pVALUE', 'mysql -uroot -pMy-1122 shop', 'My-1122'],
    ['Authorization header', 'Authorization: Bearer eyJhbGciOi.J9.x', 'eyJhbGciOi'],
    ['Authorization basic', "curl -H 'Authorization: Basic dXNlcjpwdw==' x", 'dXNlcjpwdw'],
    ['Cookie header', 'Cookie: session=Sx-9988; theme=dark', 'Sx-9988'],
    ['Set-Cookie header', 'set-cookie: sid=Sc-8877; Path=/', 'Sc-8877'],
    ['X-Api-Key header', 'X-Api-Key: Xk-7766', 'Xk-7766'],
    ['bearer token in prose', 'sent with bearer AbCdEf123456789', 'AbCdEf123456789'],
    ['env dump', 'DB_PASSWORD=Env-6655 DEBUG=1', 'Env-6655'],
    ['JSON field', '{"user":"app","password":"Js-5544"}', 'Js-5544'],
    ['YAML field', 'api_token: Ym-4433', 'Ym-4433'],
    ['AWS access key id', 'using AKIAIOSFODNN7EXAMPLE now', 'AKIAIOSFODNN7EXAMPLE'],
    ['Slack token', 'hook xoxb-123456789012-abcdefABCDEF', 'xoxb-123456789012'],
    ['private key', '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----', 'MIIEow'],
  ]
  it.each(cases)('masks %s', (_form, text, secret) => {
    const out = redact(text)
    expect(out).not.toContain(secret)
    expect(out).toContain('***')
  })

  it('keeps what tells the reader what was there', () => {
    expect(redact('postgres://app:Pw-8f3k@db:5432/shop')).toBe('postgres://app:***@db:5432/shop')
    expect(redact('https://x/y?token=abc123&page=2')).toBe('https://x/y?token=***&page=2')
    expect(redact("host=db password='a b' user=app")).toBe("host=db password='***' user=app")
    expect(redact('deploy --token=abc --port 5432 -p5432')).toBe('deploy --token=*** --port 5432 -p5432')
  })

  it('leaves ordinary text, paths, URLs and SQL alone', () => {
    const ordinary = [
      'https://shop.example.com/healthz?page=2&sort=name',
      '/work/app/migrations/expand/001_add.sql:3:1',
      "first_name = split_part(name, ' ', 1)",
      '01:32:21 [1/8 expand] done in 162ms: applied 1 migration',
      'docker login --password-stdin registry.example.com',
      'switch: blue 90% / green 10%',
    ]
    for (const text of ordinary) expect(redact(text)).toBe(text)
  })

  it('is idempotent', () => {
    const once = redact('postgres://a:b-secret@h/x?token=t0k3n Authorization: Bearer abcdefgh12')
    expect(redact(once)).toBe(once)
  })
})

describe('redact: secrets by their value', () => {
  it('masks the value of an environment variable named like a secret wherever it appears', () => {
    registerEnvSecrets({
      SHOP_DEPLOY_TOKEN: 'v4lue-of-a-token',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG',
      AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjE',
      PWD: '/work/app',
    })
    const out = redact('deploy said: v4lue-of-a-token, wJalrXUtnFEMI/K7MDENG and IQoJb3JpZ2luX2VjE')
    expect(out).toBe('deploy said: ***, *** and ***')
    // PWD is the working directory, not a password.
    expect(redact('in /work/app')).toBe('in /work/app')
  })

  it('masks the password of a URL held by any variable, and its percent-encoded form', () => {
    registerEnvSecrets({ REPORTING_DSN: 'postgres://r:p%40ss-w0rd-x@db/x' })
    expect(redact('echo p@ss-w0rd-x')).toBe('echo ***')
  })

  it('learns the secrets of a plan: argv after a secret flag, secret-named env and headers', () => {
    registerSecretsIn({
      deploy: { run: ['./deploy.sh', '--token', 'argv-t0ken-1'], env: { API_KEY: 'env-k3y-22' } },
      smoke: { checks: [{ headers: { Authorization: 'Bearer hdr-t0ken-333' } }] },
    })
    expect(redact('a argv-t0ken-1 b env-k3y-22 c hdr-t0ken-333')).toBe('a *** b *** c ***')
  })

  it('does not mask short or common values as literals (they would hide ordinary words)', () => {
    registerEnvSecrets({ AWS_SECRET_ACCESS_KEY: 'demo', FEATURE_TOKEN: 'true' })
    expect(redact('plans/demo.yaml is true')).toBe('plans/demo.yaml is true')
  })
})

describe('redactDeep and redactJson', () => {
  it('masks strings under secret-named keys and after secret flags, and keeps the shape', () => {
    const value = {
      run: ['./deploy.sh', '--password', 'x1', '{{pool}}'],
      env: { DB_PASSWORD: 'x2', REGION: 'eu-west-1' },
      headers: { Authorization: 'x3' },
      key: ['id'],
      count: 3,
      url: 'postgres://a:x4-secret@h/d',
    }
    expect(redactDeep(value)).toEqual({
      run: ['./deploy.sh', '--password', '***', '{{pool}}'],
      env: { DB_PASSWORD: '***', REGION: 'eu-west-1' },
      headers: { Authorization: '***' },
      key: ['id'],
      count: 3,
      url: 'postgres://a:***@h/d',
    })
  })

  it('redacts what toJSON returns, and writes valid JSON', () => {
    const error = { toJSON: () => ({ message: 'postgres://a:js0n-pw@h/d', quote: 'say "hi"' }) }
    const text = redactJson({ error })
    expect(JSON.parse(text)).toEqual({ error: { message: 'postgres://a:***@h/d', quote: 'say "hi"' } })
  })
})

describe('isSecretName', () => {
  it('knows the names of issue 15 and their spellings', () => {
    for (const name of [
      'token',
      'access_token',
      'api_key',
      'apikey',
      'key',
      'secret',
      'password',
      'sslpassword',
      'sig',
      'signature',
      'X-Amz-Signature',
      'X-Amz-Credential',
      'X-Amz-Security-Token',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'GITHUB_TOKEN',
      'PGPASSWORD',
      'client_secret',
      'Authorization',
      'Cookie',
    ])
      expect(isSecretName(name), name).toBe(true)
    for (const name of ['page', 'sort', 'user', 'host', 'region', 'version', 'pool', 'app', 'name'])
      expect(isSecretName(name), name).toBe(false)
  })
})

describe('a secret flag is only a flag', () => {
  it('does not take the argument after --token=VALUE for a secret (it is the next flag)', () => {
    registerSecretsIn({ run: ['./deploy.sh', '--token=flag-t0ken-9', '--password', 'flag-pw-99'] })
    expect(redact('./deploy.sh --token=*** --password ***')).toBe('./deploy.sh --token=*** --password ***')
    expect(redact('the deploy printed flag-pw-99')).toBe('the deploy printed ***')
  })
})

describe('structured text', () => {
  it('leaves keys named like secrets alone when they hold an object or a list', () => {
    const schema = JSON.stringify({ key: { type: 'array' }, token: ['a'] }, null, 2)
    expect(redact(schema)).toBe(schema)
    expect(redact('{"key": "k3y-value"}')).toBe('{"key": "***"}')
  })
})
