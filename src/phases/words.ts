/**
 * The helpers every phase's `describe` writes with: placeholders filled where known, paths as
 * the reader sees them, commands as one copyable line. Pure: no network, no database, no file
 * system, so `plan show`, --dry-run and the engine's step lines can never disagree.
 */
import { relative } from 'node:path'
import type { Expect } from '../format/parts.js'
import { fillPlaceholders, type PlaceholderVars } from '../format/placeholders.js'
import type { PlanBase } from '../format/parts.js'
import { shellQuote } from './shell-quote.js'
import type { DescribeContext, PlanStep } from './types.js'

export interface WordsOptions {
  /** Paths (migration dirs, CA files) are shown relative to this directory, e.g. process.cwd(). */
  relativeTo?: string
  /**
   * The provider's line (src/lb/ definitions describe their own config), given the context's way
   * of showing paths.
   */
  loadBalancerLine: (path: (path: string) => string) => string
  steps: readonly PlanStep[]
}

export function describeContext(
  plan: PlanBase,
  vars: PlaceholderVars,
  options: WordsOptions,
): DescribeContext {
  const fill = (text: string) => fillPlaceholders(text, { app: plan.app, version: plan.version, ...vars })
  const path = (path: string) => {
    if (!options.relativeTo) return path
    const shown = relative(options.relativeTo, path)
    return shown === '' ? '.' : shown
  }
  return {
    plan,
    steps: options.steps,
    fill,
    path,
    command(run, shell) {
      if (typeof run === 'string') return `${shell ? 'sh -c ' : ''}${shownWord(fill(run))}`
      return run.map((part) => shownWord(fill(part))).join(' ')
    },
    poolTarget: () => `pool ${vars.pool ?? '{{pool}} (the inactive pool)'}`,
    oldPool: () =>
      vars.pool === 'blue' ? 'pool green' : vars.pool === 'green' ? 'pool blue' : 'the live pool',
    newPool: () =>
      vars.pool === 'blue' || vars.pool === 'green' ? `pool ${vars.pool}` : 'the inactive pool',
    databaseTarget() {
      const url = plan.database?.url
      if (!url) return 'database'
      try {
        const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''))
        return name ? `database ${name}` : 'database'
      } catch {
        return 'database'
      }
    },
    loadBalancerLine: () => options.loadBalancerLine(path),
  }
}

/** The names of the variables a command gets (values may be secrets: never shown). */
export function envDetails(env: Record<string, string> | undefined): string[] {
  const keys = Object.keys(env ?? {})
  return keys.length > 0 ? [`environment: ${keys.join(', ')}`] : []
}

/** `200`, `body contains "1.4.2"`, …; a plain 2xx when the plan says nothing. */
export function describeExpect(expect: Expect, fill: (text: string) => string = (text) => text): string {
  const parts: string[] = []
  if (expect.status !== undefined)
    parts.push(Array.isArray(expect.status) ? expect.status.join('|') : String(expect.status))
  for (const [name, value] of Object.entries(expect.headers ?? {})) parts.push(`${name}: ${fill(value)}`)
  for (const [name, pattern] of Object.entries(expect.headersMatch ?? {}))
    parts.push(`${name} ~ /${fill(pattern)}/`)
  if (expect.bodyContains !== undefined) parts.push(`body contains "${fill(expect.bodyContains)}"`)
  if (expect.bodyMatches !== undefined) parts.push(`body ~ /${fill(expect.bodyMatches)}/`)
  for (const { path, equals } of expect.json ?? []) {
    parts.push(
      `${path} = ${typeof equals === 'string' ? JSON.stringify(fill(equals)) : JSON.stringify(equals)}`,
    )
  }
  if (expect.maxLatency !== undefined) parts.push(`within ${expect.maxLatency}`)
  return parts.length > 0 ? parts.join(', ') : '2xx'
}

/** An argv word as a shell needs it, so the line can be copied; `{{pool}}` stays readable. */
function shownWord(arg: string): string {
  return /^[\w@%+=:,./{}-]+$/.test(arg) ? arg : shellQuote(arg)
}
