/**
 * Plumbing shared by the benchmarks: running one alone (`npx tsx bench/x.ts`) or from the runner,
 * and stopping everything a benchmark started, in reverse order, also on Ctrl-C.
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** True when the module at `url` is the script node was started with. */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(url)
}

/** `--name 5` from the command line, or the fallback. */
export function numberFlag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  if (at === -1) return fallback
  const value = Number(process.argv[at + 1])
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`)
  return value
}

/** Stops what was started, last first; one failing stop does not keep the others running. */
export class Cleanup {
  private readonly steps: { what: string; stop: () => Promise<void> | void }[] = []

  add(what: string, stop: () => Promise<void> | void): void {
    this.steps.push({ what, stop })
  }

  /**
   * A cleanup for part of the work, run when that part is done; until then the parent runs it too
   * (on Ctrl-C, or when the parent runs first), so nothing it holds outlives the process.
   */
  child(what: string): Cleanup {
    const child = new Cleanup()
    this.add(what, () => child.run())
    return child
  }

  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!
      try {
        await step.stop()
      } catch (error) {
        console.error(`cleanup: could not stop ${step.what}: ${(error as Error).message}`)
      }
    }
  }
}

/** Runs `fn`, then the cleanup; on SIGINT/SIGTERM runs the cleanup and exits 130. */
export async function withCleanup<T>(fn: (cleanup: Cleanup) => Promise<T>): Promise<T> {
  const cleanup = new Cleanup()
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: stopping what the benchmark started…`)
    void cleanup.run().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await fn(cleanup)
  } finally {
    await cleanup.run()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms))
}
