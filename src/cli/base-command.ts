/**
 * What every command shares: a `--json` flag, and one way to end. A BluegreenError prints its
 * message and hint (or a JSON error object under --json) and exits with the code the error
 * implies; a usage error from oclif exits 2; anything else is a bug and prints its stack.
 */
import { Command, Errors, Flags } from '@oclif/core'
import { BluegreenError, ExitCode, formatError, isBluegreenError } from '../errors.js'
import { redact } from '../redact.js'

export abstract class BluegreenCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({
      description: 'Print machine-readable JSON on stdout, nothing else',
      env: 'BLUEGREEN_JSON',
      default: false,
    }),
  }

  /** Whether --json was given; set by `parseWith`. */
  protected json = false

  /** Writes one line to stdout, with secrets removed. */
  protected out(text: string): void {
    process.stdout.write(redact(text) + '\n')
  }

  /** Writes one line to stderr, with secrets removed. */
  protected err(text: string): void {
    process.stderr.write(redact(text) + '\n')
  }

  /** Writes a JSON value as one line to stdout, with secrets removed. */
  protected outJson(value: unknown): void {
    process.stdout.write(redact(JSON.stringify(value)) + '\n')
  }

  protected override async catch(
    error: Error & { exitCode?: number; oclif?: { exit?: number } },
  ): Promise<void> {
    const json = this.json || this.argv.includes('--json') || process.env.BLUEGREEN_JSON === 'true'
    if (isBluegreenError(error)) {
      this.reportError(error, json)
      process.exitCode = error.exitCode
      return
    }
    if (error instanceof Errors.ExitError) throw error
    // Parse errors (unknown flag, missing argument) are usage errors: exit 2 with oclif's message.
    if (error instanceof Errors.CLIError && !(error instanceof Errors.ExitError) && isParseError(error)) {
      this.reportError(
        new BluegreenError({
          code: 'USAGE',
          message: error.message,
          hint: `see: bluegreen ${this.id?.replace(/:/g, ' ') ?? ''} --help`,
        }),
        json,
      )
      process.exitCode = ExitCode.usage
      return
    }
    // A bug: show the stack so it can be reported.
    process.stderr.write(
      `bluegreen: unexpected error (this is a bug, please report it):\n${redact(error.stack ?? String(error))}\n`,
    )
    process.exitCode = 70
  }

  private reportError(error: BluegreenError, json: boolean): void {
    if (json) this.outJson({ type: 'result', ok: false, error: error.toJSON() })
    else this.err(formatError(error))
  }
}

function isParseError(error: Error): boolean {
  const name = error.constructor.name
  return /Flag|Arg|Parse|Required|Unexpected|Nonexistent|Invalid|Failed/.test(name) || 'parse' in error
}
