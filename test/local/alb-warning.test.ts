/**
 * `bluegreen local alb` on an address other machines can reach warns that its API has no
 * authentication. Tried with 192.0.2.1 (TEST-NET-1, assigned to no machine): the warning comes
 * before the bind, which then fails, so nothing ever listens beyond 127.0.0.1.
 */
import { describe, expect, it } from 'vitest'
import { runCli } from '../support/cli.js'

const config = 'test/fixtures/alb/shop.yaml'

describe('bluegreen local alb --host', () => {
  it('warns that the API has no authentication on a non-loopback address', async () => {
    const result = await runCli(['local', 'alb', '--config', config, '--host', '192.0.2.1', '--port', '0'])
    expect(result.stderr).toContain(
      'warning: the emulator’s API on 192.0.2.1 has no authentication'.replace('’', "'"),
    )
    expect(result.code).not.toBe(0)
  })

  it('says nothing of the kind on a loopback address', async () => {
    // An unreadable config stops it right after the check, before anything listens.
    const result = await runCli(['local', 'alb', '--config', 'no/such/alb.yaml', '--host', '127.0.0.1'])
    expect(result.stderr).not.toContain('no authentication')
    expect(result.code).not.toBe(0)
  })
})
