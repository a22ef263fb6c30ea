/**
 * A local stand-in for one AWS Application Load Balancer: the ELBv2 Query API for the calls
 * bluegreen makes (control plane) and real HTTP listeners that forward by weight to health-checked
 * targets (data plane). Runs in-process for tests and the demo, or alone via `bluegreen local alb`.
 */
import { BluegreenError } from '../../errors.js'
import { ApiServer, type Fault, type FaultInput } from './api.js'
import { parseAlbConfig, type AlbConfig, type AlbConfigInput } from './config.js'
import { HealthChecker } from './health.js'
import { DataPlane } from './proxy.js'
import { AlbState } from './state.js'

export { loadAlbConfig, parseAlbConfig, type AlbConfig, type AlbConfigInput } from './config.js'
export { snapshot, type Fault, type FaultInput } from './api.js'
export { AlbState } from './state.js'

export interface AlbEmulatorOptions {
  /** Address for the API and every listener (default 127.0.0.1). */
  host?: string
  /** Port of the ELBv2 API endpoint (default: a free port). */
  apiPort?: number
}

export interface AlbEmulator {
  /** The endpoint to give the AWS SDK (`endpoint` in the plan). */
  apiUrl: string
  region: string
  loadBalancerArn: string
  listeners: { port: number; url: string; arn: string; rules: { priority: number; arn: string }[] }[]
  targetGroups: { name: string; arn: string }[]
  /** The live model, for tests and drills that need to look inside. */
  state: AlbState
  /** Queues an API fault (the same as POST /_emulator/faults). */
  injectFault(fault: FaultInput): Fault
  clearFaults(): void
  close(): Promise<void>
}

export async function startAlbEmulator(
  config: AlbConfig | AlbConfigInput,
  options: AlbEmulatorOptions = {},
): Promise<AlbEmulator> {
  const host = options.host ?? '127.0.0.1'
  const state = new AlbState(parseAlbConfig(config))
  const api = new ApiServer(state)
  const dataPlane = new DataPlane(state, host)
  const health = new HealthChecker(state)
  let apiUrl: string
  try {
    await dataPlane.start()
    apiUrl = await api.start(host, options.apiPort ?? 0)
  } catch (error) {
    await dataPlane.stop()
    throw portError(error, host)
  }
  // The load balancer's own addresses are no targets (ELBv2: Target.IpUnusable): a target there
  // would send every request back into the listener.
  const apiPort = Number(new URL(apiUrl).port)
  state.reserveAddresses([{ host, port: apiPort }, ...state.listeners.map((l) => ({ host, port: l.port }))])
  health.start()
  const urlHost = host.includes(':') ? `[${host}]` : host
  return {
    apiUrl,
    region: state.region,
    loadBalancerArn: state.loadBalancer.arn,
    listeners: state.listeners.map((l) => ({
      port: l.port,
      url: `http://${urlHost}:${l.port}`,
      arn: l.arn,
      rules: l.rules.map((r) => ({ priority: r.priority, arn: r.arn })),
    })),
    targetGroups: state.targetGroups.map((tg) => ({ name: tg.name, arn: tg.arn })),
    state,
    injectFault: (fault) => api.injectFault(fault),
    clearFaults: () => api.clearFaults(),
    async close() {
      health.stop()
      await Promise.all([api.stop(), dataPlane.stop()])
    },
  }
}

function portError(error: unknown, host: string): unknown {
  const code = (error as NodeJS.ErrnoException).code
  if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') return error
  const { port } = error as { port?: number }
  return new BluegreenError({
    code: 'USAGE',
    message: `cannot listen on ${host}:${port ?? '?'} (${code})`,
    hint: 'choose another --port for the API, or other listener ports in the config (0 picks a free one)',
    cause: error,
  })
}
