/** Draws `status` and `history` for a person; --json prints the reports as they are. */
import type { HistoryReport, StatusReport } from '../engine/status.js'
import { formatDuration } from '../plan/duration.js'

export function drawStatus(report: StatusReport): string {
  const lines = [`${report.app} · ${report.loadBalancer}`, '']
  for (const pool of report.pools) {
    const role =
      pool.role === 'live'
        ? '● live'
        : pool.role === 'standby'
          ? '◐ standby'
          : pool.role === 'split'
            ? '◑ split'
            : '○ idle'
    const bar = '█'.repeat(Math.round(pool.weight / 5)).padEnd(20, '░')
    lines.push(
      `  ${pool.pool.padEnd(6)} ${role.padEnd(10)} ${bar} ${String(pool.weight).padStart(3)}%   ${(pool.version ?? 'version unknown').padEnd(16)} ${pool.healthy}/${pool.targets.length} healthy`,
    )
  }
  lines.push('')
  if (report.unfinished)
    lines.push(
      `  unfinished release: ${report.unfinished.version} (started ${report.unfinished.startedAt}) — bluegreen release PLAN --resume`,
    )
  if (report.standby) {
    lines.push(
      report.standby.retiredAt
        ? `  rollback target: none (${report.standby.pool} retired at ${report.standby.retiredAt})`
        : `  rollback window: ${report.standby.pool} for ${formatDuration(report.standby.remainingMs)} more (until ${report.standby.until})`,
    )
  }
  if (report.pendingContracts.length > 0) {
    for (const c of report.pendingContracts)
      lines.push(`  pending contract: ${c.version} — ${c.files.join(', ')} (not before ${c.notBefore})`)
  } else lines.push('  pending contracts: none')
  if (report.lastRelease) {
    const r = report.lastRelease
    lines.push(`  last release: ${r.version} → ${r.to}, ${r.status}, ${r.finishedAt ?? r.startedAt}`)
  }
  if (report.journal === 'offline')
    lines.push('  (the database is unreachable: versions and history are unknown)')
  return lines.join('\n')
}

export function drawHistory(report: HistoryReport): string {
  const lines = [`${report.app}: releases, newest first`]
  for (const r of report.releases) {
    lines.push(
      `  #${r.seq} ${r.startedAt}  ${r.version.padEnd(12)} ${r.from} → ${r.to}  ${r.status}${r.error ? `  (${r.error})` : ''}`,
    )
  }
  if (report.releases.length === 0) lines.push('  none yet')
  const events = report.events.filter((e) => e.action !== 'release')
  if (events.length > 0) {
    lines.push('', 'rollbacks, retirements and other events:')
    for (const e of events) lines.push(`  ${e.at}  ${e.action.padEnd(18)} ${e.actor.padEnd(10)} ${e.detail}`)
  }
  return lines.join('\n')
}
