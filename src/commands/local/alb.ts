import { Flags } from '@oclif/core'
import { BluegreenCommand } from '../../cli/base-command.js'

export default class LocalAlb extends BluegreenCommand {
  static override description =
    'Run the local ELBv2 emulator alone: the AWS API for the calls bluegreen makes, and HTTP listeners that forward by weight to health-checked targets'
  static override examples = [
    '<%= config.bin %> local alb --config test/fixtures/alb/shop.yaml',
    '<%= config.bin %> local alb --config alb.yaml --port 4566 --json',
  ]
  static override flags = {
    config: Flags.string({
      char: 'c',
      description: 'Emulator config file (YAML or JSON): load balancer, listeners, rules, target groups',
      required: true,
      env: 'BLUEGREEN_ALB_CONFIG',
    }),
    port: Flags.integer({
      description: 'Port of the ELBv2 API endpoint (0 picks a free one)',
      default: 4566,
      min: 0,
      max: 65535,
      env: 'BLUEGREEN_ALB_PORT',
    }),
    host: Flags.string({
      description: 'Address for the API and the listeners',
      default: '127.0.0.1',
      env: 'BLUEGREEN_ALB_HOST',
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(LocalAlb)
    this.json = flags.json
    if (!isLoopback(flags.host))
      this.err(
        `warning: the emulator's API on ${flags.host} has no authentication: anyone who can reach it can change the listeners and targets (use 127.0.0.1 unless that is what you want)`,
      )
    const { loadAlbConfig, startAlbEmulator } = await import('../../local/alb/index.js')
    const emulator = await startAlbEmulator(await loadAlbConfig(flags.config), {
      host: flags.host,
      apiPort: flags.port,
    })
    if (this.json) {
      this.outJson({
        type: 'ready',
        endpoint: emulator.apiUrl,
        region: emulator.region,
        loadBalancerArn: emulator.loadBalancerArn,
        listeners: emulator.listeners,
        targetGroups: emulator.targetGroups,
      })
    } else {
      this.out(`endpoint      ${emulator.apiUrl}  (region ${emulator.region})`)
      for (const listener of emulator.listeners) {
        this.out(`listener      ${listener.url}  ${listener.arn}`)
        for (const rule of listener.rules) this.out(`rule          priority ${rule.priority}  ${rule.arn}`)
      }
      for (const tg of emulator.targetGroups) this.out(`target group  ${tg.name}  ${tg.arn}`)
      this.err('serving until SIGINT or SIGTERM (Ctrl-C)')
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve())
      process.once('SIGTERM', () => resolve())
    })
    await emulator.close()
  }
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  return (
    bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare) || bare === '::ffff:127.0.0.1'
  )
}
