/**
 * CloudWatch alarms for tests, through the AWS SDK against the local emulator: one metric alarm
 * like a team would put on an ALB's 5xx count. It starts without data (INSUFFICIENT_DATA).
 */
type Sdk = typeof import('@aws-sdk/client-cloudwatch')

export async function putTestAlarm(
  sdk: Sdk,
  client: InstanceType<Sdk['CloudWatchClient']>,
  name: string,
): Promise<void> {
  await client.send(
    new sdk.PutMetricAlarmCommand({
      AlarmName: name,
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'HTTPCode_Target_5XX_Count',
      Dimensions: [{ Name: 'LoadBalancer', Value: 'app/shop/0123456789abcdef' }],
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 5,
      ComparisonOperator: 'GreaterThanThreshold',
    }),
  )
}
