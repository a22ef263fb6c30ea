/**
 * When the runtime API cannot be reached, the hint gives the haproxy.cfg line to add. It once
 * said `stats socket unix:/path`, which HAProxy 2.6 refuses; each hint here is checked by the
 * real haproxy (`haproxy -c`).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { isBluegreenError } from '../../src/errors.js'
import { runtimeCommand } from '../../src/lb/haproxy-runtime.js'
import { findBinary } from '../support/process.js'

const dir = mkdtempSync(join(tmpdir(), 'bluegreen-haproxy-hint-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const haproxy = findBinary('haproxy', ['/usr/sbin', '/usr/local/sbin'])

describe('the runtime API hint', () => {
  for (const runtimeApi of [`unix:${dir}/admin.sock`, `${dir}/admin.sock`, '127.0.0.1:1']) {
    it(`for runtimeApi ${runtimeApi.replace(dir, '…')}, names a stats socket line haproxy accepts`, async () => {
      // Given nothing listening at the address
      const error: unknown = await runtimeCommand(runtimeApi, 'show info', 2000).catch((e: unknown) => e)
      expect(isBluegreenError(error) && error.code).toBe('LB_UNREACHABLE')
      const hint = isBluegreenError(error) ? (error.hint ?? '') : ''
      // Then the hint quotes a stats socket line, with no unix: prefix
      const line = /"(stats socket [^"]+)"/.exec(hint)?.[1]
      expect(line, hint).toBeDefined()
      expect(line).not.toContain('unix:')
      expect(line).toContain('level admin')
      // And haproxy accepts that line in its global section
      expect(haproxy, 'haproxy is not installed').toBeDefined()
      const config = join(dir, 'haproxy.cfg')
      writeFileSync(
        config,
        `global\n    ${line}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n`,
      )
      const check = spawnSync(haproxy!, ['-c', '-f', config], { encoding: 'utf8' })
      expect(check.status, check.stdout + check.stderr).toBe(0)
    })
  }
})
