/**
 * What a lint rule is: its metadata (what the README and `bluegreen lint --rules` show) and its
 * check, one object per rule. The check is a visitor keyed by statement kind, as ESLint's rules
 * are keyed by node type: the linter calls only the visitors of the statement in front of it, so
 * a rule says which statements it reads, and adding one is one object in rules/ plus one line in
 * the registry (rules.ts).
 */
import type { AlterTableCmd, AlterTableStmt, ColumnDef, Node } from 'libpg-query'
import type { FileContext } from './context.js'

export type MigrationPhase = 'expand' | 'contract'
export type Severity = 'error' | 'warning'

/** A rule's metadata; its README section is `#lint-rule-<id>` (ruleDocs). */
export interface LintRule {
  id: string
  severity: Severity
  /** The phases the rule applies to. */
  phases: readonly MigrationPhase[]
  /** What is flagged and why, in one sentence. */
  summary: string
  /** What to do instead: the expand/contract way. */
  hint: string
  /** The README's pair; the tests lint both (`unsafe` must trip the rule, `safe` must pass). */
  example: { unsafe: string; safe: string }
}

/** What a visitor reports: the rule's id is added by the linter. */
export interface Report {
  message: string
  /** Byte offset of the offending node; the statement's start when absent. */
  location?: number
  /** For parts the parse tree gives no location (a DROP COLUMN): found in the statement's text. */
  near?: RegExp
  /** Where this case is worse (or milder) than the rule's usual one; a config's level still wins. */
  severity?: Severity
}

export type Reports = Report | Report[] | undefined

/** `AlterTableStmt`, `DropStmt`, …: the kinds of statement PostgreSQL's parse tree has. */
export type StatementKind = Node extends infer N ? (N extends unknown ? keyof N : never) : never
export type StatementOf<K extends StatementKind> = Extract<Node, Record<K, unknown>>[K]

/** The table an ALTER TABLE command changes. */
export interface AlterTarget {
  stmt: AlterTableStmt
  /** `schema.table`, for the file context and the schema knowledge. */
  table: string
  /** As written (`users`, `app.users`), for messages. */
  name: string
}

export type Visitors = {
  [K in Exclude<StatementKind, 'AlterTableCmd'>]?: (stmt: StatementOf<K>, context: FileContext) => Reports
} & {
  /** Every statement, before the visitors of its kind (the file's open transaction matters). */
  Statement?: (node: Node, context: FileContext) => Reports
  /**
   * Each command of an ALTER TABLE, with what earlier commands of the statement taught the
   * context. An ALTER TABLE of a table created earlier in the file is not checked at all (no
   * running version uses it, nobody waits on its locks): neither this nor `AlterTableStmt` runs.
   */
  AlterTableCmd?: (cmd: AlterTableCmd, context: FileContext, target: AlterTarget) => Reports
  /** A column that ALTER TABLE … ADD COLUMN adds to an existing table. */
  AddColumn?: (column: ColumnDef, context: FileContext, target: AlterTarget) => Reports
}

export interface RuleDefinition<Id extends string = string> {
  meta: LintRule & { id: Id }
  /** Rules without one are raised by the linter itself (syntax-error, bad-allow-comment, do-block). */
  check: Visitors
}

/** Keeps the rule's id as a literal type, so the registry knows every RuleId. */
export function defineRule<const Id extends string>(rule: RuleDefinition<Id>): RuleDefinition<Id> {
  return rule
}

/** Compatibility rules: they hold while the old version still runs. */
export const expandOnly = ['expand'] as const
/** Locking rules: a contract must not queue the application behind a lock either. */
export const bothPhases = ['expand', 'contract'] as const
