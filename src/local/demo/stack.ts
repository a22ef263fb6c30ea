/**
 * The demo's stack, each piece registered with the teardown as it starts: a PostgreSQL (a
 * throwaway server, or a throwaway database on the user's), the load balancer emulator and the
 * app's two pools (src/local/stack.ts), and a temp state directory for the journal's spool.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BluegreenError } from '../../errors.js'
import { createDatabase, startLocalPostgres, systemPostgresBin } from '../postgres.js'
import { startLocalStack, type LocalStack } from '../stack.js'
import * as narration from './narration.js'
import { dropDatabase } from './queries.js'
import { postgresResource, type Teardown } from './teardown.js'
import {
  demoDatabase,
  demoProfiles,
  demoVersions,
  type DemoEnvironment,
  type DemoResult,
  type Narration,
  type PostgresChoice,
} from './types.js'

type Say = (line: Narration) => void

/** `--postgres system|embedded|auto|URL`. */
export function parsePostgresChoice(value: string): PostgresChoice {
  if (value === 'system' || value === 'embedded' || value === 'auto') return value
  if (/^postgres(ql)?:\/\//.test(value)) return { url: value }
  throw new BluegreenError({
    code: 'USAGE',
    message: `--postgres ${value}: expected system, embedded, auto or a postgres:// URL`,
    hint: 'leave it out (auto: the system’s PostgreSQL when installed, else the embedded one)',
  })
}

export interface StartedDatabase {
  url: string
  info: DemoResult['postgres']
  /** The demo's database on that server. */
  name: string
}

export async function startDatabase(
  choice: PostgresChoice,
  say: Say,
  teardown: Teardown,
): Promise<StartedDatabase> {
  if (typeof choice === 'object') return useExternalServer(choice.url, say, teardown)
  say(narration.startingPostgres(choice, systemPostgresBin()))
  const server = await startLocalPostgres(choice)
  teardown.add(postgresResource(server))
  const url = await createDatabase(server.url, demoDatabase)
  say(narration.postgresStarted(server))
  return { url, info: { kind: server.kind, pid: server.pid, port: server.port }, name: demoDatabase }
}

/** `--postgres URL`: a database of its own on that server, dropped at the end. */
async function useExternalServer(serverUrl: string, say: Say, teardown: Teardown): Promise<StartedDatabase> {
  const name = `${demoDatabase}_${randomBytes(3).toString('hex')}`
  const url = await createDatabase(serverUrl, name).catch((error: unknown) => {
    throw new BluegreenError({
      code: 'DATABASE_UNREACHABLE',
      message: `cannot create the demo database on ${new URL(serverUrl).host}: ${(error as Error).message}`,
      hint: 'the URL’s user needs CREATEDB; or leave out --postgres to use a throwaway local server',
      cause: error,
    })
  })
  teardown.add({ name: `database ${name}`, stop: () => dropDatabase(serverUrl, name) })
  const host = new URL(serverUrl)
  say(narration.usingExternalServer(host.host, name))
  return { url, info: { kind: 'external', port: Number(host.port || 5432) }, name }
}

/** The load balancer emulator and the app's pools, on the demo's database. */
export async function startAppStack(databaseUrl: string, say: Say, teardown: Teardown): Promise<LocalStack> {
  const stack = await startLocalStack({
    databaseUrl,
    initialVersion: demoVersions.from,
    profiles: demoProfiles,
    healthInterval: '500ms',
  })
  teardown.add({ name: 'load balancer and app servers', stop: () => stack.close() })
  say(
    narration.stackStarted({
      albEndpoint: stack.env.BLUEGREEN_ALB_ENDPOINT,
      productionUrl: stack.productionUrl,
    }),
  )
  return stack
}

/** The journal's spool goes here, never into the user's own state directory. */
export function makeStateDir(teardown: Teardown): string {
  const stateDir = mkdtempSync(join(tmpdir(), 'bluegreen-demo-state-'))
  const remove = () => rmSync(stateDir, { recursive: true, force: true })
  teardown.add({ name: 'state directory', stop: async () => remove(), kill: remove })
  return stateDir
}

/**
 * What the engine must see to run against the stack: the plan's ${VAR}s, the AWS SDK's
 * credentials and the deploy command's control URL, as a pipeline would set them; the user's
 * own AWS profile and session token step aside.
 */
export function stackEnvironment(stack: LocalStack, stateDir: string): DemoEnvironment {
  return {
    set: { ...stack.env, BLUEGREEN_STATE_DIR: stateDir },
    unset: ['AWS_PROFILE', 'AWS_SESSION_TOKEN'],
  }
}
