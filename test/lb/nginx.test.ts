import { spawnSync } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNginx } from '../../src/lb/nginx.js'
import { findUpstream } from '../../src/lb/nginx-upstream.js'
import type { LoadBalancer } from '../../src/lb/types.js'
import { closeApps, startPoolApps, type PoolApps } from '../support/http-app.js'
import { samplePools } from '../support/load.js'
import { startNginx, type TestNginx } from '../support/nginx.js'
import { haveBinary, waitFor } from '../support/process.js'
import { repoRoot } from '../support/cli.js'
import { describeLoadBalancerContract } from './contract.js'

const startApps = () => startPoolApps(2, { blue: '1.0.0', green: '1.1.0' })

describe.runIf(haveBinary('nginx'))('nginx adapter', () => {
  describeLoadBalancerContract('nginx', async () => {
    const apps = await startApps()
    const nginx = await startNginx({ apps, live: 'green' })
    return {
      lb: createNginx(nginx.config, nginx.pools),
      apps,
      trafficUrl: nginx.trafficUrl,
      supportsWeights: true,
      initialLive: 'green',
      // A reload closes idle keep-alive connections; a client racing that close sees an error.
      lossless: false,
      async teardown() {
        await nginx.stop()
        await closeApps(apps)
      },
    }
  })

  describe('beyond the contract', () => {
    let apps: PoolApps
    let nginx: TestNginx
    let lb: LoadBalancer

    beforeAll(async () => {
      apps = await startApps()
      nginx = await startNginx({ apps, live: 'blue' })
      lb = createNginx(nginx.config, nginx.pools)
    })
    afterAll(async () => {
      await nginx?.stop()
      if (apps) await closeApps(apps)
    })

    it('rewrites only the upstream block: both pools listed, the inactive one down, directives kept', async () => {
      // Given: other content around the block
      const original = await readFile(nginx.upstreamFile, 'utf8')
      await writeFile(
        nginx.upstreamFile,
        `# shop upstream; included from nginx.conf\n${original}map $host $x { default 1; }\n`,
      )
      // When
      await lb.shift('green')
      // Then
      const file = await readFile(nginx.upstreamFile, 'utf8')
      expect(file).toMatch(/^# shop upstream; included from nginx.conf\nupstream shop \{/)
      expect(file).toContain('    keepalive 16;')
      for (const app of apps.green) expect(file).toContain(`server 127.0.0.1:${app.port} weight=1;`)
      // The blue servers keep their own parameter, and are marked down.
      for (const app of apps.blue) expect(file).toContain(`server 127.0.0.1:${app.port} down max_fails=1;`)
      expect(file).toMatch(/\}\nmap \$host \$x \{ default 1; \}\n$/)
      expect(await lb.traffic()).toMatchObject({ live: 'green', split: false })
    })

    it('reloads its own nginx on a switch, and neither writes nor reloads when nothing changes', async () => {
      // Given
      const workersBefore = await nginx.workers()
      // When
      await lb.shift('blue')
      // Then: new worker processes serve the new upstream
      await waitFor(
        async () => !(await nginx.workers()).some((pid) => workersBefore.includes(pid)),
        5000,
        'new workers',
      )
      await waitFor(async () => (await samplePools(nginx.trafficUrl, 4)).blue === 4, 5000, 'blue to answer')

      // Given
      const workers = await nginx.workers()
      const mtime = (await stat(nginx.upstreamFile)).mtimeMs
      // When
      const again = await lb.shift('blue')
      // Then
      expect(again.changed).toBe(false)
      expect((await stat(nginx.upstreamFile)).mtimeMs).toBe(mtime)
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(await nginx.workers()).toEqual(workers)
    })

    it('after a crash between the rewrite and the reload, reports what nginx serves; the next shift applies', async () => {
      // Given blue live, as nginx serves it
      await lb.shift('blue')
      await waitFor(async () => (await samplePools(nginx.trafficUrl, 4)).blue === 4, 5000, 'blue to answer')
      // When a switch to green is killed right after it rewrote the file (before nginx -t and the reload)
      const script = `
        const { createNginx } = await import(${JSON.stringify(join(repoRoot, 'src/lb/nginx.ts'))})
        const { config, pools } = JSON.parse(process.env.NGINX_UNDER_TEST)
        await createNginx(config, pools).shift('green')`
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: {
          ...process.env,
          BLUEGREEN_FAILPOINT: 'nginx:written',
          NGINX_UNDER_TEST: JSON.stringify({ config: nginx.config, pools: nginx.pools }),
        },
        encoding: 'utf8',
      })
      expect(child.signal, child.stderr).toBe('SIGKILL')
      // Then the file says green, nginx still serves blue, and the adapter says blue, with a note
      expect(
        findUpstream(await readFile(nginx.upstreamFile, 'utf8'), 'shop')?.servers.some(
          (s) => s.weight > 0 && nginx.pools.green.servers?.includes(s.address),
        ),
      ).toBe(true)
      expect((await samplePools(nginx.trafficUrl, 4)).blue).toBe(4)
      const seen = await lb.traffic()
      expect(seen).toMatchObject({ live: 'blue', split: false })
      expect(seen.note).toMatch(/has not been reloaded/)
      // When a rollback asks for blue, which the file does not say: it rewrites and reloads
      const back = await lb.shift('blue')
      expect(back.changed).toBe(true)
      expect((await lb.traffic()).note).toBeUndefined()
      expect((await samplePools(nginx.trafficUrl, 4)).blue).toBe(4)
    })

    it('restores the previous file and reports nginx’s message when nginx -t fails', async () => {
      // Given: a green address nginx refuses
      const before = await readFile(nginx.upstreamFile, 'utf8')
      const badPools = {
        ...nginx.pools,
        green: { servers: [...nginx.pools.green.servers!, '127.0.0.1:70000'] },
      }
      // When
      const error = await createNginx(nginx.config, badPools)
        .shift('green')
        .catch((e: unknown) => e)
      // Then
      expect(error).toMatchObject({
        code: 'LB_CONFIG',
        details: [expect.stringMatching(/\[emerg\] invalid port in upstream "127.0.0.1:70000"/)],
        hint: expect.stringContaining('nginx still serves blue'),
      })
      expect(await readFile(nginx.upstreamFile, 'utf8')).toBe(before)
      expect(await samplePools(nginx.trafficUrl, 4)).toEqual({ blue: 4 })
    })

    it('restores the previous file when the reload command fails', async () => {
      // Given: a reload command aimed at a config that does not exist
      const before = await readFile(nginx.upstreamFile, 'utf8')
      const reload = [nginx.config.reload[0], '-c', join(nginx.prefix, 'missing.conf'), '-s', 'reload']
      // When
      const error = await createNginx({ ...nginx.config, reload }, nginx.pools)
        .shift('green')
        .catch((e: unknown) => e)
      // Then
      expect(error).toMatchObject({
        code: 'LB_UNREACHABLE',
        details: [expect.stringContaining('missing.conf')],
      })
      expect(await readFile(nginx.upstreamFile, 'utf8')).toBe(before)
      expect((await lb.traffic()).live).toBe('blue')
    })

    it('refuses an upstream that sends traffic outside both pools, and a missing file, with hints', async () => {
      // Given
      const before = await readFile(nginx.upstreamFile, 'utf8')
      await writeFile(
        nginx.upstreamFile,
        before.replace('keepalive 16;', 'keepalive 16; server 10.9.9.9:80;'),
      )
      try {
        // When / Then
        await expect(lb.traffic()).rejects.toMatchObject({
          code: 'LB_CONFIG',
          message: expect.stringContaining('10.9.9.9:80, which is in neither pool'),
        })
      } finally {
        await writeFile(nginx.upstreamFile, before)
      }
      const missing = createNginx(
        { ...nginx.config, upstreamFile: join(nginx.prefix, 'nope.conf') },
        nginx.pools,
      )
      await expect(missing.traffic()).rejects.toMatchObject({
        code: 'LB_CONFIG',
        hint: expect.stringContaining('upstream shop'),
      })
      const wrongName = createNginx({ ...nginx.config, upstream: 'other' }, nginx.pools)
      await expect(wrongName.traffic()).rejects.toMatchObject({
        code: 'LB_CONFIG',
        message: expect.stringContaining('upstream other'),
      })
    })
  })

  it('parses the upstream block it is asked for, ignoring comments and other blocks', () => {
    // Given
    const text = [
      'upstream other { server 10.0.0.1:80; }',
      '# upstream shop { server 6.6.6.6:80; }',
      'upstream shop { # the shop; not { a brace',
      '  zone shop 64k;',
      '  server 10.0.1.1:8080 weight=3 max_fails=2;',
      '  server 10.0.2.1:8080 down;',
      '  server 10.0.9.9:8080 backup;',
      '}',
      'server { listen 80; }',
    ].join('\n')
    // When
    const block = findUpstream(text, 'shop')!
    // Then
    expect(text.slice(block.start, block.end)).toMatch(/^upstream shop \{[\s\S]*\n\}$/)
    expect(block.directives).toEqual(['zone shop 64k'])
    expect(block.servers.map(({ address, weight, params }) => ({ address, weight, params }))).toEqual([
      { address: '10.0.1.1:8080', weight: 3, params: ['max_fails=2'] },
      { address: '10.0.2.1:8080', weight: 0, params: [] },
      { address: '10.0.9.9:8080', weight: 0, params: [] },
    ])
    expect(findUpstream(text, 'missing')).toBeUndefined()
  })
})
