/**
 * What every command shares: a `--json` flag, and one way to end (output.ts): a BluegreenError
 * prints its message and hint and exits with the code the error implies; a usage error from
 * oclif exits 2; anything else is a bug and prints its stack.
 */
import { Command, Errors, Flags } from '@oclif/core'
import { BluegreenError } from '../errors.js'
import { printError, printJson, printLine, reportError, reportFailure } from './output.js'

export abstract class BluegreenCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({
      description: 'Print machine-readable JSON on stdout, nothing else',
      env: 'BLUEGREEN_JSON',
      default: false,
    }),
  }

  /** Whether --json was given; each command's run() sets it right after parsing its flags. */
  protected json = false

  /** Writes one line to stdout, with secrets removed. */
  protected out(text: string): void {
    printLine(text)
  }

  /** Writes one line to stderr, with secrets removed. */
  protected err(text: string): void {
    printError(text)
  }

  /** Writes a JSON value as one line to stdout, with secrets removed. */
  protected outJson(value: unknown): void {
    printJson(value)
  }

  protected override async catch(
    error: Error & { exitCode?: number; oclif?: { exit?: number } },
  ): Promise<void> {
    const json = this.json || this.argv.includes('--json') || process.env.BLUEGREEN_JSON === 'true'
    if (error instanceof Errors.ExitError) throw error
    // Parse errors (unknown flag, missing argument) are usage errors: exit 2 with oclif's message.
    if (error instanceof Errors.CLIError && isParseError(error)) {
      return reportError(
        new BluegreenError({
          code: 'USAGE',
          message: error.message,
          hint: `see: bluegreen ${this.id?.replace(/:/g, ' ') ?? ''} --help`,
        }),
        json,
      )
    }
    reportFailure(error, json)
  }
}

function isParseError(error: Error): boolean {
  const name = error.constructor.name
  return /Flag|Arg|Parse|Required|Unexpected|Nonexistent|Invalid|Failed/.test(name) || 'parse' in error
}
