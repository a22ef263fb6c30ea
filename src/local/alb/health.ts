/**
 * Real, periodic HTTP health checks of the targets of every target group in use, as ELBv2 does
 * them: a GET of the health check path on a fresh connection, a timeout, a status matcher, and
 * healthy/unhealthy thresholds of consecutive results (the transitions live in AlbState).
 */
import { request } from 'node:http'
import type { AlbState, TargetGroupRecord, TargetRecord } from './state.js'

export class HealthChecker {
  private readonly timers: NodeJS.Timeout[] = []
  private readonly inFlight = new Map<TargetRecord, () => void>()
  private stopped = false

  constructor(private readonly state: AlbState) {}

  start(): void {
    for (const tg of this.state.targetGroups) {
      const timer = setInterval(() => this.tick(tg, false), tg.healthCheck.intervalMs)
      timer.unref()
      this.timers.push(timer)
    }
    // A target that was just registered, or whose group was just attached, is checked at once
    // rather than an interval later; after that the interval paces it.
    const kick = (): void => {
      for (const tg of this.state.targetGroups) this.tick(tg, true)
    }
    this.state.subscribe(kick)
    kick()
  }

  stop(): void {
    this.stopped = true
    for (const timer of this.timers) clearInterval(timer)
    for (const abort of this.inFlight.values()) abort()
    this.inFlight.clear()
  }

  private tick(tg: TargetGroupRecord, onlyUnchecked: boolean): void {
    if (this.stopped || !tg.inUse) return
    for (const target of tg.targets.values()) {
      if (target.health.state === 'draining' || target.health.state === 'unused') continue
      if (this.inFlight.has(target)) continue
      if (onlyUnchecked && (target.health.state !== 'initial' || target.successes + target.failures > 0))
        continue
      this.check(tg, target)
    }
  }

  private check(tg: TargetGroupRecord, target: TargetRecord): void {
    const { path, timeoutMs, matcher } = tg.healthCheck
    let settled = false
    const finish = (failure?: { reason: string; description: string }): void => {
      if (settled) return
      settled = true
      this.inFlight.delete(target)
      if (!this.stopped) this.state.recordHealthCheck(tg, target, failure)
    }
    const req = request(
      {
        host: target.host,
        port: target.port,
        path,
        method: 'GET',
        agent: false,
        headers: {
          host: `${target.host}:${target.port}`,
          'user-agent': 'ELB-HealthChecker/2.0',
          connection: 'close',
        },
      },
      (res) => {
        res.resume()
        const status = res.statusCode ?? 0
        res.on('end', () =>
          finish(
            matches(matcher, status)
              ? undefined
              : {
                  reason: 'Target.ResponseCodeMismatch',
                  description: `Health checks failed with these codes: [${status}]`,
                },
          ),
        )
        res.on('error', () =>
          finish({ reason: 'Target.FailedHealthChecks', description: 'Health checks failed' }),
        )
      },
    )
    req.setTimeout(timeoutMs, () => {
      finish({ reason: 'Target.Timeout', description: 'Request timed out' })
      req.destroy()
    })
    req.on('error', () =>
      finish({ reason: 'Target.FailedHealthChecks', description: 'Health checks failed' }),
    )
    req.end()
    this.inFlight.set(target, () => {
      settled = true
      req.destroy()
    })
  }
}

/** ELBv2 matchers: "200", "200,204", "200-299". */
export function matches(matcher: string, status: number): boolean {
  return matcher.split(',').some((part) => {
    const [low, high] = part.split('-').map(Number)
    return high === undefined ? status === low : status >= low && status <= high
  })
}
