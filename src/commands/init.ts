import { basename } from 'node:path'
import { Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'

export default class Init extends BluegreenCommand {
  static override description =
    'Write a commented first plan (bluegreen.yaml) and migrations/expand and migrations/contract, in the current directory; never overwrites'
  static override examples = [
    '<%= config.bin %> init --provider haproxy --app shop',
    '<%= config.bin %> init --provider aws-elbv2 --listener-arn arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/…',
  ]
  static override flags = {
    provider: Flags.string({
      description: 'The load balancer',
      options: ['aws-elbv2', 'haproxy', 'nginx'],
      default: 'aws-elbv2',
      env: 'BLUEGREEN_PROVIDER',
    }),
    app: Flags.string({
      description: 'Application name (default: this directory’s name)',
      env: 'BLUEGREEN_APP',
    }),
    'listener-arn': Flags.string({
      description: 'aws-elbv2: describe this listener (read-only) and fill the region and both target groups',
      env: 'BLUEGREEN_LISTENER_ARN',
    }),
    region: Flags.string({
      description: 'aws-elbv2: the region (default: from the listener ARN)',
      env: 'AWS_REGION',
    }),
    endpoint: Flags.string({
      description: 'aws-elbv2: ELBv2 endpoint override, e.g. the local emulator http://127.0.0.1:4566',
      env: 'BLUEGREEN_ALB_ENDPOINT',
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Init)
    this.json = flags.json
    const { initProject } = await import('../cli/init.js')
    const dir = process.cwd()
    const provider = flags.provider as 'aws-elbv2' | 'haproxy' | 'nginx'
    const result = await initProject({
      dir,
      provider,
      app: flags.app ?? basename(dir).replace(/[^A-Za-z0-9._-]/g, '-'),
      ...(flags['listener-arn'] ? { listenerArn: flags['listener-arn'] } : {}),
      ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
      ...(flags.region ? { region: flags.region } : {}),
    })
    if (this.json) return this.outJson({ type: 'result', ok: true, ...result })
    for (const file of result.files) this.out(`✓ wrote ${file}`)
    if (result.described)
      this.out(
        `  from ${result.described.listenerArn}: blue ${result.described.blue}, green ${result.described.green}`,
      )
    this.out('')
    this.out('Next: fill in bluegreen.yaml (deploy command, servers, host), then')
    for (const command of result.next) this.out(`  ${command}`)
  }
}
