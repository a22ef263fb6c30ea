import * as z from 'zod'
import { Duration } from '../../format/parts.js'
import { defineProvider, missingPoolKey } from '../provider.js'

const AwsElbv2Config = z
  .strictObject({
    provider: z.literal('aws-elbv2'),
    region: z.string().min(1).describe('AWS region, e.g. eu-west-1'),
    listenerArn: z.string().startsWith('arn:').optional().describe("Switch this listener's default action"),
    ruleArn: z
      .string()
      .startsWith('arn:')
      .optional()
      .describe('Switch this listener rule instead (shared load balancers)'),
    endpoint: z.url().optional().describe('Endpoint override, e.g. the local emulator http://127.0.0.1:4566'),
    profile: z.string().optional().describe('Named profile from the shared AWS config files'),
    consistencyTimeout: Duration.optional().describe(
      'How long a switch waits for ELBv2 (eventually consistent) to describe the weights it wrote (default 10s)',
    ),
    stickiness: z
      .strictObject({
        duration: Duration.describe('TargetGroupStickinessConfig.DurationSeconds, 1s to 7d'),
      })
      .optional()
      .describe(
        'Group stickiness that forward switches keep on; a rollback turns it off, the next switch restores it',
      ),
  })
  .refine((lb) => Boolean(lb.listenerArn) !== Boolean(lb.ruleArn), {
    message: 'give exactly one of listenerArn or ruleArn',
    path: ['listenerArn'],
  })
export type AwsElbv2Config = z.output<typeof AwsElbv2Config>

export const awsElbv2Provider = defineProvider({
  provider: 'aws-elbv2',
  schema: AwsElbv2Config,
  poolIssues: (pool, config) =>
    config.targetGroupArn
      ? []
      : [
          missingPoolKey(
            pool,
            'targetGroupArn',
            'aws-elbv2 switches between the pools’ target groups: add targetGroupArn: arn:aws:elasticloadbalancing:…:targetgroup/…',
          ),
        ],
  describe(lb) {
    const sticky = lb.stickiness
      ? `; group stickiness ${lb.stickiness.duration} on forward switches (a rollback turns it off and moves every client)`
      : '; group stickiness as the listener has it (a rollback turns it off and moves every client)'
    return lb.ruleArn
      ? `aws-elbv2 listener rule ${lb.ruleArn}${sticky}`
      : `aws-elbv2 listener ${lb.listenerArn ?? ''} (${lb.region}${lb.endpoint ? `, endpoint ${lb.endpoint}` : ''})${sticky}`
  },
  summary: (lb) => `aws-elbv2 ${lb.ruleArn ? `rule ${lb.ruleArn}` : `listener ${lb.listenerArn ?? ''}`}`,
  async create(config, pools) {
    const { createAwsElbv2 } = await import('../aws-elbv2.js')
    return createAwsElbv2(config, pools)
  },
})
