/** Draws `status` and `history` for a person; --json prints the reports as they are. */
import { withPlanPath } from '../errors.js'
import type { HistoryReport, PendingContractStatus, StatusReport } from '../engine/status.js'
import { formatDuration } from '../format/duration.js'

/** "pending contract: 2.0.0 — 0001_drop.sql · due for 3h (since …): run `bluegreen contract PLAN`". */
export function contractLine(c: PendingContractStatus): string {
  const head = `pending contract: ${c.version} — ${c.files.join(', ') || 'no files'}`
  const since = c.dueSince ? ` (since ${c.dueSince})` : ''
  switch (c.state) {
    case 'waiting':
      return `${head} · waiting, pending ${formatDuration(c.ageMs)}: ${c.waitingFor ?? 'not yet safe'}`
    case 'due':
      return `${head} · due for ${formatDuration(c.dueMs ?? 0)}${since}: ${withPlanPath('run `bluegreen contract PLAN`')}`
    case 'overdue':
      return `${head} · OVERDUE, due for ${formatDuration(c.dueMs ?? 0)}${since}: ${withPlanPath('run `bluegreen contract PLAN`')}`
  }
}

function stickinessLine({ stickiness, persistence }: StatusReport['traffic']): string {
  if (stickiness)
    return `  stickiness: on, ${stickiness.durationSeconds} s — sticky clients stay on their pool that long after a forward switch; a rollback moves them`
  if (persistence)
    return `  stickiness: on (${persistence}) — sticky clients stay on their pool after a forward switch; a rollback moves them`
  return '  stickiness: off'
}

export function drawStatus(report: StatusReport): string {
  const lines = [`${report.app} · ${report.loadBalancer}`, '']
  for (const pool of report.pools) {
    const role = pool.role === 'live' ? '● live' : pool.role === 'split' ? '◑ split' : '○ idle'
    const bar = '█'.repeat(Math.round(pool.weight / 5)).padEnd(20, '░')
    lines.push(
      `  ${pool.pool.padEnd(6)} ${role.padEnd(8)} ${bar} ${String(pool.weight).padStart(3)}%   ${(pool.version ?? 'version unknown').padEnd(16)} ${pool.healthy}/${pool.targets.length} healthy`,
    )
  }
  lines.push(stickinessLine(report.traffic))
  lines.push('')
  for (const pool of report.pools)
    lines.push(`  ${pool.words}${pool.rollbackTarget ? ' — the rollback target' : ''}`)
  if (!report.pools.some((p) => p.rollbackTarget)) lines.push('  rollback target: none')
  for (const line of report.disagreements) lines.push(`  ! ${line}`)
  const running = report.unfinished
  if (running) {
    const r = running.release
    const step = running.step
      ? ` at step ${running.step.index + 1}/${running.step.of} (${running.step.kind})`
      : ''
    const approval = running.approval
    lines.push(
      running.state === 'running'
        ? `  release ${r.version} is running${step}: pid ${running.holder?.pid} on ${running.holder?.host}, by ${running.holder?.holder}, since ${running.holder?.since}`
        : running.state === 'awaiting approval' && approval
          ? withPlanPath(
              `  release ${r.version} is awaiting approval${step} since ${approval.since} — approve with bluegreen approve PLAN; unapproved at ${approval.deadline} it ${approval.onTimeout === 'rollback' ? 'rolls back' : 'is abandoned'}`,
            )
          : withPlanPath(
              `  release ${r.version} was interrupted${step} (started ${r.startedAt}) — continue with bluegreen release PLAN --resume, or close it with bluegreen rollback --plan PLAN`,
            ),
    )
  }
  if (report.pendingContracts.length > 0) {
    for (const c of report.pendingContracts) lines.push(`  ${contractLine(c)}`)
  } else lines.push('  pending contracts: none')
  for (const sync of report.activeSyncs ?? [])
    lines.push(
      `  active sync: ${sync.table} — trigger ${sync.trigger} of release #${sync.releaseSeq} (${sync.version}), since ${sync.installedAt}; its contract drops it`,
    )
  if (report.lastRelease) {
    const r = report.lastRelease
    const how =
      r.status === 'rolled_back'
        ? `rolled back${r.rollback ? ` (${r.rollback})` : ''}`
        : r.status === 'failed'
          ? `failed${r.failedStep ? ` at ${r.failedStep.kind}` : ''}`
          : r.status
    lines.push(`  last release: ${r.version} → ${r.to}, ${how}, ${r.finishedAt ?? r.startedAt}`)
  }
  if (report.journal === 'offline')
    lines.push(
      '  (the database is unreachable: standings are as this machine last read them; history is unknown)',
    )
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
  if (report.rollbacks.length > 0) {
    lines.push('', 'rollbacks, newest first:')
    for (const r of report.rollbacks) lines.push(`  ${r.startedAt}  ${rollbackLine(r)}`)
  }
  // Rollbacks have their own list above; their audit entries would repeat them.
  const events = report.events.filter((e) => e.action !== 'release' && e.action !== 'rollback')
  if (events.length > 0) {
    lines.push('', 'rollbacks, retirements and other events:')
    for (const e of events) lines.push(`  ${e.at}  ${e.action.padEnd(18)} ${e.actor.padEnd(10)} ${e.detail}`)
  }
  return lines.join('\n')
}

/** "green → blue (1.0.0)  manual, by alice, switched in 564 ms  reason". */
function rollbackLine(r: HistoryReport['rollbacks'][number]): string {
  const kind = `${r.automatic ? 'automatic' : 'manual'}${r.forced ? ', forced' : ''}`
  const outcome = r.abandoned
    ? 'abandoned: it never switched'
    : r.finishedAt
      ? `switched${r.ms !== undefined ? ` in ${r.ms} ms` : ''}`
      : 'unfinished'
  return `${r.from} → ${r.to}${r.version ? ` (${r.version})` : ''}  ${kind}, by ${r.actor}, ${outcome}  ${r.reason}`
}
