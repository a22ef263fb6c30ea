/**
 * A rollback on HAProxy with cookie persistence, end to end on the built CLI: HAProxy serves a
 * client holding its cookie at weight 0, so a rollback that only moved weights would leave that
 * client on the build it rolled back from. Real HAProxy, PostgreSQL and the demo app's pools.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { bluegreen } from '../support/e2e.js'
import { haproxyPlan, startHaproxyStack, type HaproxyStack } from '../support/haproxy-stack.js'
import { cookieClient, samplePools } from '../support/load.js'
import { haveBinary } from '../support/process.js'

let stack: HaproxyStack | undefined
afterEach(async () => {
  await stack?.close()
  stack = undefined
})

describe.runIf(haveBinary('haproxy'))('HAProxy with sticky clients, through the CLI', () => {
  it('a rollback moves the clients a cookie holds on the new build, and the next release switches again', async () => {
    // Given 2.0.0 live on green, and a client HAProxy holds there by its cookie
    stack = await startHaproxyStack({ profiles: 100, sticky: 'cookie' })
    const env = stack.cliEnv
    const release = () =>
      bluegreen(['release', haproxyPlan, '--version', '2.0.0', '--live-version', '1.0.0', '--yes'], env)
    const first = await release()
    expect(first.code, first.stderr).toBe(0)
    const client = cookieClient(`${stack.productionUrl}/version`)
    expect(await client.get()).toBe('green')
    // When the on-call engineer rolls back
    const rolled = await bluegreen(['rollback', '--plan', haproxyPlan, '--yes'], env)
    // Then every client is on blue, the sticky one too, and the output says why green is in maintenance
    expect(rolled.code, rolled.stderr).toBe(0)
    expect([await client.get(), await client.get(), await client.get()]).toEqual(['blue', 'blue', 'blue'])
    expect(rolled.stdout).toMatch(/SRV cookie.*green's servers \(green1, green2\) are in maintenance/)
    const status = await bluegreen(['status', haproxyPlan], env)
    expect(status.stdout).toContain('stickiness: on (cookie SRV)')
    // And the next release deploys to green (which sets it ready), switches, and new clients reach it
    const again = await release()
    expect(again.code, again.stderr).toBe(0)
    expect(await samplePools(`${stack.productionUrl}/version`, 4)).toEqual({ green: 4 })
  })
})
