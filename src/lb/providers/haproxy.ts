import * as z from 'zod'
import { defineProvider, missingPoolKey } from '../provider.js'

const HaproxyConfig = z.strictObject({
  provider: z.literal('haproxy'),
  runtimeApi: z
    .string()
    .min(1)
    .describe(
      'HAProxy runtime API: unix socket path (unix:/run/haproxy.sock or /run/haproxy.sock) or host:port',
    ),
  backend: z.string().min(1).describe('The backend that holds both pools’ servers'),
  stateFile: z
    .string()
    .optional()
    .describe('server-state file written after every switch so the live pool survives a restart'),
})
export type HaproxyConfig = z.output<typeof HaproxyConfig>

export const haproxyProvider = defineProvider({
  provider: 'haproxy',
  schema: HaproxyConfig,
  paths: ['stateFile'],
  poolIssues: (pool, config, lb) =>
    config.servers
      ? []
      : [
          missingPoolKey(
            pool,
            'servers',
            `list the pool’s server names in backend ${lb.backend}, e.g. servers: [${pool}1, ${pool}2]`,
          ),
        ],
  describe: (lb) =>
    `haproxy backend ${lb.backend} via the runtime API at ${lb.runtimeApi} (weights change, no reload; ` +
    'a rollback moves sticky clients too: with a persistence cookie the old pool is in maintenance until the next deploy, stick-table entries for it are cleared)',
  summary: (lb) => `haproxy backend ${lb.backend} (${lb.runtimeApi})`,
  async create(config, pools) {
    const { createHaproxy } = await import('../haproxy.js')
    return createHaproxy(config, pools)
  },
})
