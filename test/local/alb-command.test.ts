import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, repoRoot } from '../support/cli.js'
import { freePort, startProcess, waitFor, type Started } from '../support/process.js'
import { closeApps, fixtureConfig, sdkClient, startPoolApps, type PoolApps } from './alb-support.js'

/** Runs the built CLI, as users and CD pipelines do (long-running, so not through runCli). */
function bluegreenLocalAlb(args: string[]): Started {
  ensureBuilt()
  return startProcess(process.execPath, [join(repoRoot, 'bin/run.js'), 'local', 'alb', ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: '1' },
  })
}

describe('bluegreen local alb', () => {
  let apps: PoolApps
  let dir: string
  let configFile: string
  const started: Started[] = []

  beforeAll(async () => {
    apps = await startPoolApps(1)
    dir = mkdtempSync(join(tmpdir(), 'bluegreen-alb-'))
    configFile = join(dir, 'alb.json')
    writeFileSync(configFile, JSON.stringify(fixtureConfig(apps)))
  })
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()))
    await closeApps(apps)
    rmSync(dir, { recursive: true, force: true })
  })

  it('prints one JSON line with the endpoint and ARNs, serves the API and the listener, and stops on SIGTERM', async () => {
    // Given
    const port = await freePort()
    // When
    const proc = bluegreenLocalAlb(['--config', configFile, '--port', String(port), '--json'])
    started.push(proc)
    const readyLine = (): string | undefined =>
      proc
        .output()
        .split('\n')
        .find((line) => line.startsWith('{"type":"ready"'))
    await waitFor(() => readyLine() !== undefined, 30_000, 'the ready line')
    const ready = JSON.parse(readyLine()!) as {
      type: string
      endpoint: string
      listeners: { url: string; arn: string }[]
      targetGroups: { name: string; arn: string }[]
    }
    // Then
    expect(ready.type).toBe('ready')
    expect(ready.endpoint).toBe(`http://127.0.0.1:${port}`)
    expect(ready.targetGroups.map((tg) => tg.name)).toEqual(['shop-blue', 'shop-green'])

    // When: the AWS SDK and an HTTP client use it
    const { sdk, client } = await sdkClient(ready.endpoint)
    try {
      const { Listeners } = await client.send(
        new sdk.DescribeListenersCommand({ ListenerArns: [ready.listeners[0].arn] }),
      )
      expect(Listeners![0].Port).toBe(Number(new URL(ready.listeners[0].url).port))
    } finally {
      client.destroy()
    }
    await waitFor(
      async () => (await fetch(ready.listeners[0].url)).headers.get('x-pool') === 'blue',
      5000,
      'the listener to serve blue',
    )

    // When
    proc.child.kill('SIGTERM')
    // Then
    expect(await proc.exited).toEqual({ code: 0, signal: null })
    await expect(fetch(ready.listeners[0].url)).rejects.toThrow()
  })

  it('prints the endpoint, listeners, rules and target groups one per line', async () => {
    // When
    const proc = bluegreenLocalAlb(['--config', configFile, '--port', '0'])
    started.push(proc)
    await waitFor(() => proc.output().includes('serving until'), 30_000, 'the emulator to serve').catch(
      (e: Error) => {
        throw new Error(e.message + ': ' + proc.output())
      },
    )
    proc.child.kill('SIGINT')
    await proc.exited
    // Then
    const lines = proc.output().trim().split('\n')
    expect(lines[0]).toMatch(/^endpoint\s+http:\/\/127\.0\.0\.1:\d+\s+\(region eu-west-1\)$/)
    expect(lines[1]).toMatch(
      /^listener\s+http:\/\/127\.0\.0\.1:\d+\s+arn:aws:elasticloadbalancing:eu-west-1:000000000000:listener\/app\/shop\//,
    )
    expect(lines[2]).toMatch(
      /^rule\s+priority 10\s+arn:aws:elasticloadbalancing:.*:listener-rule\/app\/shop\//,
    )
    expect(lines.filter((l) => l.startsWith('target group'))).toHaveLength(2)
  })

  it('exits 2 and names the problem when the config is invalid', async () => {
    // Given
    const bad = join(dir, 'bad.yaml')
    writeFileSync(
      bad,
      'loadBalancer: { name: shop }\ntargetGroups: []\nlisteners: [{ port: 0, defaultAction: { targetGroup: nope } }]\n',
    )
    // When
    const proc = bluegreenLocalAlb(['--config', bad])
    started.push(proc)
    const exit = await proc.exited
    // Then
    expect(exit.code).toBe(2)
    expect(proc.output()).toContain('is not a valid ALB emulator config')
    expect(proc.output()).toContain('targetGroups')
    expect(proc.output()).toContain('no target group named nope')
  })
})
