import { resolve } from 'node:path'
import { formatDuration, parseDuration } from '../plan/duration.js'
import type { PhaseConfig } from '../plan/schema.js'
import type { Phase } from './types.js'

export const verifyPhase = {
  kind: 'verify',
  rollbackOnFailure: true,
  async run(ctx) {
    const report = await verifyWith(ctx.config, ctx.planDir, ctx.vars, ctx.signal, false, (message) =>
      ctx.progress(message),
    )
    for (const warning of report.warnings) ctx.emit({ type: 'warning', message: warning })
    if (!report.ok) {
      const { verifyFailure } = await import('../http/verify.js')
      throw verifyFailure(report, ctx.config.url)
    }
    return `production healthy for ${formatDuration(parseDuration(ctx.config.for))}: ${report.samples} samples, ${report.errors} errors`
  },
} satisfies Phase<'verify'>

/** Shared by the verify phase and by rollback (which stops as soon as the marker is seen). */
export async function verifyWith(
  config: PhaseConfig<'verify'>,
  planDir: string,
  vars: Record<string, string>,
  signal: AbortSignal,
  untilVersionSeen: boolean,
  progress: (message: string) => void,
) {
  const { verifyProduction } = await import('../http/verify.js')
  let samples = 0
  return verifyProduction({
    url: config.url,
    forMs: parseDuration(config.for),
    intervalMs: parseDuration(config.interval),
    resolve: config.resolve,
    caFile: config.caFile && resolve(planDir, config.caFile),
    insecure: config.insecure,
    expect: config.expect,
    versionMarker: config.versionMarker,
    versionSeen: config.versionSeen,
    maxErrorRatio: config.maxErrorRatio,
    failAfter: config.failAfter,
    timeoutMs: parseDuration(config.timeout),
    vars,
    signal,
    untilVersionSeen,
    onSample: () => {
      samples++
      if (samples % 5 === 1) progress(`${samples} samples`)
    },
  })
}
