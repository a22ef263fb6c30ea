/** Flags shared by several commands; every flag also reads an environment variable. */
import { Args, Flags } from '@oclif/core'

export const planArg = Args.string({
  description: 'Plan file (YAML); default --plan, then $BLUEGREEN_PLAN, then ./bluegreen.yaml',
  required: false,
})

export const planFlag = Flags.string({
  description: 'Plan file (YAML); default $BLUEGREEN_PLAN, then ./bluegreen.yaml',
  env: 'BLUEGREEN_PLAN',
})

export const yesFlag = Flags.boolean({
  description: 'Do not ask for confirmation',
  env: 'BLUEGREEN_YES',
  default: false,
})

export const waitLockFlag = Flags.string({
  description:
    'Wait this long (e.g. 10m) for the release lock when another command holds it, saying who and at which step, instead of exiting 4',
  env: 'BLUEGREEN_WAIT_LOCK',
})

export const versionFlag = Flags.string({
  description: 'Version to release (fills {{version}})',
  env: 'BLUEGREEN_VERSION',
})

export const dryRunFlag = Flags.boolean({
  description: 'Print what each step would do; change nothing',
  env: 'BLUEGREEN_DRY_RUN',
  default: false,
})
