/**
 * The linter's walk over one statement: it calls the visitors that the rules (rules/, listed in
 * rules.ts) have for the statement's kind, then lets the statement teach the file context
 * (context.ts) what it created and which lock it now holds. A rule decides only *whether* a
 * statement trips it; its metadata (hint, phases) is the rule's `meta`.
 */
import type { AlterTableCmd, Node } from 'libpg-query'
import { FileContext, learn, learnCommand } from './context.js'
import { blockingLock } from './locks.js'
import { alterCommands, qualified, columnDefOf } from './names.js'
import type { AlterTarget, Report, Reports, StatementKind } from './rule.js'
import { ruleDefinitions, type RuleId } from './rules.js'

export { FileContext } from './context.js'

export interface Hit extends Report {
  rule: RuleId
}

type Visitor = (node: unknown, context: FileContext, target: AlterTarget) => Reports

/** Each visitor key's visitors, with their rule, in registry order: built once. */
const visitorsByKind = new Map<string, { rule: RuleId; visit: Visitor }[]>()
for (const { meta, check } of ruleDefinitions) {
  for (const [kind, visit] of Object.entries(check)) {
    const list = visitorsByKind.get(kind) ?? []
    list.push({ rule: meta.id, visit: visit as Visitor })
    visitorsByKind.set(kind, list)
  }
}

const none: { rule: RuleId; visit: Visitor }[] = []
const everyStatement = visitorsByKind.get('Statement') ?? none
const commandVisitors = visitorsByKind.get('AlterTableCmd') ?? none
const addColumnVisitors = visitorsByKind.get('AddColumn') ?? none

function visit(
  hits: Hit[],
  visitors: { rule: RuleId; visit: Visitor }[],
  node: unknown,
  context: FileContext,
  target?: AlterTarget,
): void {
  for (const { rule, visit } of visitors) {
    const reports = visit(node, context, target!)
    if (reports === undefined) continue
    if (Array.isArray(reports)) for (const report of reports) hits.push({ rule, ...report })
    else hits.push({ rule, ...reports })
  }
}

/**
 * Checks one statement; updates the file context with what it creates and the locks it takes.
 * (The caller resets `context.lockHeldBy` where the runner commits: around statements that run
 * alone.)
 */
export function checkStatement(node: Node, context: FileContext): Hit[] {
  const hits: Hit[] = []
  const lock = blockingLock(node, context)
  visit(hits, everyStatement, node, context)
  const kind = kindOf(node)
  const stmt = (node as Record<string, unknown>)[kind]
  if ('AlterTableStmt' in node) {
    const alter = node.AlterTableStmt
    const table = context.key(alter.relation) ?? '?'
    const cmds = alterCommands(alter)
    if (context.isNew(alter.relation)) {
      for (const cmd of cmds) learnCommand(cmd, table, context)
    } else {
      visit(hits, visitorsByKind.get(kind) ?? none, stmt, context)
      const target: AlterTarget = { stmt: alter, table, name: qualified(alter.relation) }
      for (const cmd of cmds) {
        checkCommand(hits, cmd, context, target)
        learnCommand(cmd, table, context)
      }
    }
  } else {
    visit(hits, visitorsByKind.get(kind) ?? none, stmt, context)
  }
  learn(node, context)
  if (lock) context.lockHeldBy ??= lock
  return hits
}

function checkCommand(hits: Hit[], cmd: AlterTableCmd, context: FileContext, target: AlterTarget): void {
  visit(hits, commandVisitors, cmd, context, target)
  const column = cmd.subtype === 'AT_AddColumn' ? columnDefOf(cmd) : undefined
  if (column) visit(hits, addColumnVisitors, column, context, target)
}

/** A parse-tree node has one key: its kind. */
function kindOf(node: Node): StatementKind {
  for (const kind in node) return kind as StatementKind
  return 'List'
}
