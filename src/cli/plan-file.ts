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
