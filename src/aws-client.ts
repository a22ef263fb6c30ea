/**
 * The settings every AWS SDK client of ours shares (the ELBv2 and EC2 clients of the load
 * balancer, the CloudWatch client of verify): the standard credential chain, adaptive retries,
 * and bounded waits, so that a call fails with a message instead of hanging on a black-holed
 * connection.
 */
export interface AwsTarget {
  region: string
  /** A local endpoint (the emulator), or undefined for AWS itself. */
  endpoint?: string
  profile?: string
}

export interface AwsLimits {
  maxAttempts: number
  connectionTimeout: number
  requestTimeout: number
}

export function awsClientSettings(target: AwsTarget, limits: AwsLimits) {
  const env = process.env
  const haveCredentials = Boolean(
    target.profile ||
    env.AWS_ACCESS_KEY_ID ||
    env.AWS_PROFILE ||
    env.AWS_WEB_IDENTITY_TOKEN_FILE ||
    env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ||
    env.AWS_CONTAINER_CREDENTIALS_FULL_URI,
  )
  return {
    region: target.region,
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    ...(target.profile ? { profile: target.profile } : {}),
    retryMode: 'adaptive' as const,
    maxAttempts: limits.maxAttempts,
    requestHandler: { connectionTimeout: limits.connectionTimeout, requestTimeout: limits.requestTimeout },
    // A local endpoint (the emulator) does not check signatures: dummy keys keep the SDK from
    // searching for real credentials (and IMDS) when none are configured.
    ...(target.endpoint && !haveCredentials
      ? { credentials: { accessKeyId: 'bluegreen-local', secretAccessKey: 'bluegreen-local' } }
      : {}),
  }
}
