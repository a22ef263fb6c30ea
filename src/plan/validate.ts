/**
 * `plan validate` as a service: load each file and keep every problem, so one run reports all
 * errors of all files. Only plan problems are results; anything else is a bug and propagates.
 */
import { isBluegreenError } from '../errors.js'
import { isPlanError, type PlanIssue } from '../format/issues.js'
import { loadPlan, type LoadPlanOptions } from './load.js'

export type PlanFileResult =
  | { file: string; ok: true; app: string; phases: number; hash: string }
  | { file: string; ok: false; code: string; errors: PlanIssue[] }

export async function validatePlanFiles(
  files: string[],
  options: LoadPlanOptions = {},
): Promise<PlanFileResult[]> {
  const results: PlanFileResult[] = []
  for (const file of files) {
    try {
      const { plan, hash } = await loadPlan(file, options)
      results.push({ file, ok: true, app: plan.app, phases: plan.phases.length, hash })
    } catch (error) {
      if (isPlanError(error)) results.push({ file, ok: false, code: error.code, errors: error.issues })
      else if (isBluegreenError(error)) {
        const issue = { file, line: 0, col: 0, path: '', message: error.message, hint: error.hint ?? '' }
        results.push({ file, ok: false, code: error.code, errors: [issue] })
      } else throw error
    }
  }
  return results
}
