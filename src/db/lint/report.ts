/**
 * The linter's findings in the formats that editors and CI read: a compiler's lines (text, gcc),
 * JSON, GitHub Actions workflow commands (annotations on the pull request), SARIF 2.1.0 (code
 * scanning) and GitLab Code Quality.
 */
import { createRequire } from 'node:module'
import {
  formatFinding,
  gccLine,
  ruleDocs,
  type Finding,
  type LintResult,
  type ParseFailure,
} from './index.js'
import { lintRules, ruleById, type MigrationPhase } from './rules.js'

export const lintFormats = ['text', 'gcc', 'json', 'github', 'sarif', 'gitlab'] as const
export type LintFormat = (typeof lintFormats)[number]

/** A parse error as a finding of the syntax-error rule, so every format reports it like one. */
export function parseFailureFinding(failure: ParseFailure): Finding {
  const { hint } = ruleById('syntax-error')
  const at = { line: failure.line, column: failure.column }
  return {
    rule: 'syntax-error',
    severity: 'error',
    message: failure.message,
    hint,
    file: failure.file,
    ...at,
    end: at,
    docs: ruleDocs('syntax-error'),
  }
}

export interface LintReport {
  /** What goes to stdout (the machine-readable part). */
  stdout: string
  /** The summary line, for stderr (none for the formats read whole by a tool). */
  summary?: string
}

export function renderLint(result: LintResult, phase: MigrationPhase, format: LintFormat): LintReport {
  const all = [...result.parseErrors.map(parseFailureFinding), ...result.findings]
  const errors = all.filter((f) => f.severity === 'error').length
  const warnings = all.length - errors
  const summary =
    all.length === 0
      ? `✓ ${plural(result.files.length, 'file')} safe for ${phase}`
      : `✗ ${plural(errors, 'error')}, ${plural(warnings, 'warning')}${result.parseErrors.length ? `, ${plural(result.parseErrors.length, 'file')} not parsed` : ''} in ${plural(result.files.length, 'file')} (${phase})`
  switch (format) {
    case 'text':
      return { stdout: lines(all.map(formatFinding)), summary }
    case 'gcc':
      return { stdout: lines(all.map(gccLine)), summary }
    case 'github':
      return { stdout: lines(all.map(githubAnnotation)), summary }
    case 'json':
      return {
        stdout: `${JSON.stringify({
          type: 'result',
          ok: all.length === 0,
          phase,
          files: result.files,
          errors,
          warnings,
          findings: result.findings,
          parseErrors: result.parseErrors,
        })}\n`,
      }
    case 'sarif':
      return { stdout: `${JSON.stringify(sarif(all))}\n` }
    case 'gitlab':
      return { stdout: `${JSON.stringify(all.map(codeQuality))}\n` }
  }
}

function lines(list: string[]): string {
  return list.length === 0 ? '' : `${list.join('\n')}\n`
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** `::error file=…,line=…::message` (GitHub's workflow command; `%`, CR, LF and `,`/`:` escaped). */
function githubAnnotation(f: Finding): string {
  const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
  const property = (s: string) => data(s).replace(/:/g, '%3A').replace(/,/g, '%2C')
  const props = [
    `file=${property(f.file)}`,
    `line=${f.line}`,
    `col=${f.column}`,
    `endLine=${f.end.line}`,
    `endColumn=${f.end.column}`,
    `title=${property(`bluegreen lint: ${f.rule}`)}`,
  ]
  return `::${f.severity} ${props.join(',')}::${data(`${f.message}\nhint: ${f.hint}`)}`
}

function sarif(all: Finding[]): object {
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'bluegreen lint',
            rules: lintRules.map((rule) => ({
              id: rule.id,
              shortDescription: { text: rule.summary },
              help: { text: rule.hint },
              helpUri: ruleDocs(rule.id),
              defaultConfiguration: { level: rule.severity },
            })),
          },
        },
        results: all.map((f) => ({
          ruleId: f.rule,
          level: f.severity,
          message: { text: `${f.message} (instead: ${f.hint})` },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: f.file },
                region: {
                  startLine: f.line,
                  startColumn: f.column,
                  endLine: f.end.line,
                  endColumn: f.end.column,
                },
              },
            },
          ],
        })),
      },
    ],
  }
}

/** One GitLab Code Quality issue; the fingerprint is stable across runs for the same finding. */
function codeQuality(f: Finding): object {
  return {
    description: `${f.message} (instead: ${f.hint})`,
    check_name: f.rule,
    fingerprint: sha256().update(`${f.file}\0${f.rule}\0${f.line}\0${f.message}`).digest('hex'),
    severity: f.rule === 'syntax-error' ? 'blocker' : f.severity === 'error' ? 'major' : 'minor',
    location: { path: f.file, lines: { begin: f.line, end: f.end.line } },
  }
}

let crypto: typeof import('node:crypto') | undefined

/** node:crypto takes 6 ms to load, and only the GitLab format needs it. */
function sha256() {
  crypto ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')
  return crypto.createHash('sha256')
}
