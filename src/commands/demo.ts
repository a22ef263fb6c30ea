import { Flags } from '@oclif/core'
import { join } from 'node:path'
import { BluegreenCommand } from '../cli/base-command.js'
import { withInterrupts } from '../cli/interrupt.js'
import { ExitCode } from '../errors.js'

export default class Demo extends BluegreenCommand {
  static override description =
    'Run a whole release, a rollback and a contract on this machine: a throwaway PostgreSQL, a local load balancer, an example app. Needs nothing but Node.'
  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --keep',
    '<%= config.bin %> demo --postgres embedded --json',
  ]
  static override flags = {
    postgres: Flags.string({
      description:
        'auto (the system’s PostgreSQL when installed, else the embedded one), system, embedded, or a postgres:// URL of a server to create a throwaway database on',
      default: 'auto',
      env: 'BLUEGREEN_DEMO_POSTGRES',
    }),
    keep: Flags.boolean({
      description: 'Leave everything running until Ctrl-C, and print the commands to try next',
      default: false,
      env: 'BLUEGREEN_DEMO_KEEP',
    }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Demo)
    this.json = flags.json
    const [{ runDemo, parsePostgresChoice, withProcessEnvironment }, { withEngine }, { outputMode }, draw] =
      await Promise.all([
        import('../local/demo/index.js'),
        import('../cli/context.js'),
        import('../ui/index.js'),
        import('../ui/demo.js'),
      ])
    const postgres = parsePostgresChoice(flags.postgres)
    const planFile = join(this.config.root, 'plans/demo.yaml')
    const stamped = <T extends object>(event: T) => ({ ...event, at: new Date().toISOString() })

    // Ctrl-C stops the demo (and everything it started); under --keep it is the normal end.
    const interrupts = { hint: 'the demo stopped everything it started; run it again with `bluegreen demo`' }
    await withInterrupts(interrupts, async (signal) => {
      const result = await runDemo({
        planFile,
        postgres,
        signal,
        narration: outputMode(flags.json) === 'tty' ? 'upfront' : 'inline',
        // Each engine call runs against the demo stack: its environment, not the user's.
        engine: ({ command, version, env }, fn) =>
          withProcessEnvironment(env, () =>
            withEngine({ planFile, version, json: flags.json, command, locks: true }, (ctx) => fn(ctx)),
          ),
        emit: (event) => {
          if (this.json) return this.outJson(stamped(event))
          const text = draw.drawDemoEvent(event)
          if (text !== undefined) this.out(text)
        },
        hold: flags.keep
          ? async (ready) => {
              if (this.json) this.outJson(stamped({ type: 'demo.ready', ...ready }))
              else this.out(draw.drawDemoReady(ready))
              await new Promise<void>((resolve) => {
                if (signal.aborted) resolve()
                signal.addEventListener('abort', () => resolve(), { once: true })
              })
            }
          : undefined,
      })
      if (this.json) this.outJson({ type: 'result', ...result })
      else this.out(draw.drawDemoSummary(result))
      // A process it could not stop is for a human to end (the summary names it).
      if (!result.stopped) process.exitCode = ExitCode.needsHuman
    })
  }
}
