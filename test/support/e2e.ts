/**
 * End-to-end fixtures: a fresh database in the shared PostgreSQL, the local stack (ELBv2
 * emulator + demo app servers) and the built CLI run as a child process, as a pipeline would.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLocalStack, type LocalStack } from '../../src/local/stack.js'
import { repoRoot, runCli, type CliResult } from './cli.js'
import { createTestDatabase } from './postgres.js'

export { repoRoot }
export const e2ePlan = join(repoRoot, 'test/fixtures/e2e/plan.yaml')
/** Any password works with the test server's trust authentication; outputs must never show it. */
export const dbPassword = 'Sup3r-Secret-pw'

export interface E2eStack extends LocalStack {
  databaseUrl: string
  /** Environment for the CLI: the stack's, a private spool directory, no TTY behaviour. */
  cliEnv: Record<string, string>
}

export async function startE2eStack(
  options: {
    profiles?: number
    /** The database to use (default: a new one in the shared server). */
    databaseUrl?: string
  } = {},
): Promise<E2eStack> {
  const url = new URL(options.databaseUrl ?? (await createTestDatabase('e2e')))
  url.password = dbPassword
  const stack = await startLocalStack({
    databaseUrl: url.toString(),
    healthInterval: '200ms',
    profiles: options.profiles ?? 1000,
  })
  const stateDir = mkdtempSync(join(tmpdir(), 'bluegreen-state-'))
  return {
    ...stack,
    databaseUrl: url.toString(),
    cliEnv: { ...stack.env, BLUEGREEN_STATE_DIR: stateDir, CI: 'true' },
    async close() {
      await stack.close()
      rmSync(stateDir, { recursive: true, force: true })
    },
  }
}

/** Runs the built CLI as a pipeline would (through test/support/cli.ts). */
export function bluegreen(
  args: string[],
  env: Record<string, string | undefined>,
  options: { timeoutMs?: number } = {},
): Promise<CliResult> {
  return runCli(args, { env, timeoutMs: options.timeoutMs ?? 60_000 })
}

/** Reads one value from the application database. */
export async function sql<T = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text, params)).rows as T[]
  } finally {
    await client.end()
  }
}

/** Which pool production answers from right now. */
export async function productionPool(stack: LocalStack): Promise<string> {
  const response = await fetch(`${stack.productionUrl}/version`)
  return ((await response.json()) as { pool: string }).pool
}
