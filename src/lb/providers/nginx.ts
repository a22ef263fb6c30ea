import * as z from 'zod'
import { defineProvider, missingPoolKey } from '../provider.js'

const NginxConfig = z.strictObject({
  provider: z.literal('nginx'),
  upstreamFile: z
    .string()
    .min(1)
    .describe('The include file holding the upstream block; rewritten by atomic rename'),
  upstream: z.string().min(1).describe('Name of the upstream block'),
  reload: z
    .array(z.string())
    .min(1)
    .default(['nginx', '-s', 'reload'])
    .describe('Command that reloads nginx'),
  test: z.array(z.string()).min(1).default(['nginx', '-t']).describe('Command that checks the configuration'),
})
export type NginxConfig = z.output<typeof NginxConfig>

export const nginxProvider = defineProvider({
  provider: 'nginx',
  schema: NginxConfig,
  paths: ['upstreamFile'],
  poolIssues: (pool, config) =>
    config.servers
      ? []
      : [
          missingPoolKey(
            pool,
            'servers',
            'list host:port of each server in the pool, e.g. servers: ["10.0.1.10:8080"]',
          ),
        ],
  describe: (lb, path) =>
    `nginx upstream ${lb.upstream} in ${path(lb.upstreamFile)}, then ${lb.reload.join(' ')}`,
  summary: (lb) => `nginx upstream ${lb.upstream}`,
  async create(config, pools) {
    const { createNginx } = await import('../nginx.js')
    return createNginx(config, pools)
  },
})
