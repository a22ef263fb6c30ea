/** What a command needs from how it was invoked, with or without oclif. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { BluegreenError, setPlanForHints } from '../errors.js'

/** The plan a command uses when it is given none: the file a first `bluegreen init` writes. */
export const defaultPlanFile = 'bluegreen.yaml'

/**
 * The plan comes from the argument, then --plan (which reads $BLUEGREEN_PLAN), then
 * ./bluegreen.yaml. When none is there, the error lists what was tried and the plan files it
 * sees in the current directory, so the fix is one copy-paste away.
 */
export function requirePlan(
  arg: string | undefined,
  flag: string | undefined,
  command: string,
  cwd: string = process.cwd(),
): string {
  const given = arg ?? flag ?? (existsSync(join(cwd, defaultPlanFile)) ? defaultPlanFile : undefined)
  if (given) {
    setPlanForHints(given)
    return given
  }
  const candidates = planFilesIn(cwd)
  const tried = `tried: the argument, --plan, $BLUEGREEN_PLAN (${process.env.BLUEGREEN_PLAN ? 'set' : 'not set'}), ./${defaultPlanFile} (not found)`
  throw new BluegreenError({
    code: 'USAGE',
    message: `${command} needs a plan file; ${tried}`,
    hint:
      candidates.length > 0
        ? `plan files here: ${candidates.join(', ')}; e.g. bluegreen ${command} --plan ${candidates[0]} (or export BLUEGREEN_PLAN=${candidates[0]})`
        : `no *.yaml plan file in ${cwd}: give its path (bluegreen ${command} --plan path/to/plan.yaml, or export BLUEGREEN_PLAN), or create one with \`bluegreen init\``,
  })
}

/** *.yaml and *.yml files in `dir` that look like plans (a top-level `loadBalancer:` key). */
function planFilesIn(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir).filter((name) => /\.ya?ml$/i.test(name))
  } catch {
    return []
  }
  return names
    .filter((name) => {
      try {
        const path = join(dir, name)
        return statSync(path).size < 1024 * 1024 && /^loadBalancer:/m.test(readFileSync(path, 'utf8'))
      } catch {
        return false
      }
    })
    .sort()
    .slice(0, 10)
}

/** The command line as typed, recorded as the lock holder. */
export function commandLine(id: string | undefined, argv: string[]): string {
  return ['bluegreen', ...(id ?? '').split(':'), ...argv].join(' ')
}
