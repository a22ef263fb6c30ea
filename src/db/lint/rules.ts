/**
 * The registry of the compatibility linter's rules: one object each (rules/, grouped by the
 * statements they read), listed here in the order the README and `bluegreen lint --rules` show
 * them. The tests lint every example (each `unsafe` example must trip its rule, each `safe` one
 * must pass).
 *
 * Two kinds of rule. Compatibility rules hold in `expand` only: while the old version still runs
 * (and stays the rollback target) the schema must keep serving it. Locking rules hold in both
 * phases: a contract may drop what nobody uses, but it still must not queue every query on a
 * table behind an ACCESS EXCLUSIVE lock for the length of a scan or a rewrite.
 */
import type { LintRule } from './rule.js'
import {
  addNotNullColumn,
  addStoredGeneratedColumn,
  jsonColumnRule,
  volatileDefault,
} from './rules/add-column.js'
import { alterColumnType, detachPartition, dropColumn, dropDefault, setNotNull } from './rules/alter-table.js'
import { addEnumValue } from './rules/alter-type.js'
import { addCheckConstraint, addForeignKey, addUniqueConstraint } from './rules/constraints.js'
import { createOrReplace } from './rules/create.js'
import { bulkUpdate, deleteAllRows, restartSequence, truncate } from './rules/data.js'
import { dropDatabase, dropIndex, dropObject, dropSchema, dropTable, dropView } from './rules/drop.js'
import { badAllowComment, doBlock, syntaxError } from './rules/file.js'
import { createIndex, reindex } from './rules/indexes.js'
import { refreshMaterializedView, tableRewrite } from './rules/maintenance.js'
import { renameColumn, renameObject, renameTable } from './rules/rename.js'
import { lockTable, longStatementUnderLock, transactionControl } from './rules/transaction.js'
import { disableTrigger } from './rules/triggers.js'

export type { LintRule, MigrationPhase, Severity } from './rule.js'

export const ruleDefinitions = [
  dropTable,
  dropColumn,
  dropView,
  dropSchema,
  dropObject,
  truncate,
  deleteAllRows,
  renameTable,
  renameColumn,
  renameObject,
  alterColumnType,
  addNotNullColumn,
  setNotNull,
  addEnumValue,
  dropDefault,
  createIndex,
  dropIndex,
  reindex,
  addForeignKey,
  addCheckConstraint,
  addUniqueConstraint,
  volatileDefault,
  addStoredGeneratedColumn,
  tableRewrite,
  refreshMaterializedView,
  bulkUpdate,
  restartSequence,
  transactionControl,
  doBlock,
  longStatementUnderLock,
  lockTable,
  detachPartition,
  dropDatabase,
  createOrReplace,
  disableTrigger,
  jsonColumnRule,
  badAllowComment,
  syntaxError,
] as const

export type RuleId = (typeof ruleDefinitions)[number]['meta']['id']

/** The rules' metadata, in README order. */
export const lintRules: readonly (LintRule & { id: RuleId })[] = ruleDefinitions.map((rule) => rule.meta)

const byId = new Map<string, LintRule>(lintRules.map((rule) => [rule.id, rule]))

export function ruleById(id: RuleId): LintRule {
  return byId.get(id)!
}

export function isRuleId(id: string): id is RuleId {
  return byId.has(id)
}
