/** The machine a run was measured on, for the head of RESULTS.md. */
import { spawnSync } from 'node:child_process'
import { cpus, freemem, loadavg, release, totalmem } from 'node:os'
import { findBinary } from '../../test/support/process.js'
import { systemPostgresBin } from '../../src/local/postgres.js'

export interface Machine {
  cpu: string
  cores: number
  memory: string
  node: string
  os: string
  /** 1, 5 and 15 minute load averages. */
  load: [number, number, number]
  tools: string[]
}

export function describeMachine(): Machine {
  const list = cpus()
  const [one, five, fifteen] = loadavg()
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free)`,
    node: process.version,
    os: `${process.platform}/${process.arch}, kernel ${release()}`,
    load: [one, five, fifteen],
    tools: [postgresVersion(), toolVersion('haproxy', ['-v']), toolVersion('nginx', ['-v'])].filter(
      (t): t is string => t !== undefined,
    ),
  }
}

export function formatLoad(load: [number, number, number]): string {
  return load.map((l) => l.toFixed(2)).join(', ')
}

function postgresVersion(): string | undefined {
  const bin = systemPostgresBin()
  return bin ? firstLine(`${bin}/postgres`, ['--version']) : 'postgresql: not installed'
}

function toolVersion(name: string, args: string[]): string {
  const binary = findBinary(name)
  return binary ? (firstLine(binary, args) ?? name) : `${name}: not installed`
}

/** The first line the command prints, on stdout or stderr (nginx -v writes to stderr). */
function firstLine(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' })
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n')[0]?.trim() || undefined
}
