/** What a command needs from how it was invoked, with or without oclif. */
import { BluegreenError } from '../errors.js'

/** The plan comes from the argument, --plan or BLUEGREEN_PLAN. */
export function requirePlan(arg: string | undefined, flag: string | undefined, command: string): string {
  const plan = arg ?? flag
  if (!plan) {
    throw new BluegreenError({
      code: 'USAGE',
      message: `${command} needs a plan file`,
      hint: `bluegreen ${command} --plan plans/shop.yaml (or set BLUEGREEN_PLAN)`,
    })
  }
  return plan
}

/** The command line as typed, recorded as the lock holder. */
export function commandLine(id: string | undefined, argv: string[]): string {
  return ['bluegreen', ...(id ?? '').split(':'), ...argv].join(' ')
}
