/**
 * The end-to-end plan (test/fixtures/e2e/plan.yaml) written to a temporary directory with
 * absolute paths, changes to its contract step and a `notify:` list: for the notification and
 * contract-reminder tests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { e2ePlan, repoRoot } from './e2e.js'

export interface NotifyPlan {
  file: string
  remove(): void
}

export function writeNotifyPlan(options: {
  contract?: string
  notify?: Record<string, unknown>[]
  /** A phase entry put before the switch, e.g. `- approve: { timeout: 1h }`. */
  beforeSwitch?: string
}): NotifyPlan {
  const fixtures = join(repoRoot, 'test/fixtures/e2e')
  let text = readFileSync(e2ePlan, 'utf8')
    .replace('- expand: { dir: expand }', `- expand: { dir: ${JSON.stringify(join(fixtures, 'expand'))} }`)
    .replace(
      '- contract: { dir: contract }',
      `- contract: { dir: ${JSON.stringify(join(fixtures, 'contract'))}${options.contract ? `, ${options.contract}` : ''} }`,
    )
    .replace('../../../plans/demo/deploy.mjs', JSON.stringify(join(repoRoot, 'plans/demo/deploy.mjs')))
  if (options.beforeSwitch) text = text.replace('  - switch:', `  ${options.beforeSwitch}\n  - switch:`)
  if (options.notify) text += `notify: ${JSON.stringify(options.notify)}\n`
  const dir = mkdtempSync(join(tmpdir(), 'bluegreen-notify-plan-'))
  const file = join(dir, 'plan.yaml')
  writeFileSync(file, text)
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The NDJSON lines of a --json run. */
export function ndjson(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}
