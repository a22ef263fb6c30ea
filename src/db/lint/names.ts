/** Reading names, types and sub-trees out of PostgreSQL's parse tree, for the rules and the context. */
import type {
  AlterTableCmd,
  AlterTableStmt,
  ColumnDef,
  Constraint,
  Node,
  RangeVar,
  TypeName,
} from 'libpg-query'
import type { ColumnType } from './knowledge.js'

/** The last `String` of a name list (`pg_catalog.int4` → `int4`). */
export function lastName(names: Node[] | undefined): string | undefined {
  const last = names?.at(-1)
  return last && 'String' in last ? last.String.sval : undefined
}

export function dottedName(names: Node[] | undefined): string {
  return (names ?? [])
    .flatMap((n) => ('String' in n && n.String.sval !== undefined ? [n.String.sval] : []))
    .join('.')
}

export function objectName(node: Node): string {
  if ('List' in node) return dottedName(node.List.items)
  if ('String' in node) return node.String.sval ?? '?'
  if ('TypeName' in node) return dottedName(node.TypeName.names)
  if ('ObjectWithArgs' in node) return dottedName(node.ObjectWithArgs.objname)
  return '?'
}

/** The name list of a DROP or RENAME object (`[schema, name]`, `[name]`). */
export function nameList(node: Node): Node[] {
  if ('List' in node) return node.List.items ?? []
  if ('String' in node) return [node]
  if ('TypeName' in node) return node.TypeName.names ?? []
  if ('ObjectWithArgs' in node) return node.ObjectWithArgs.objname ?? []
  return []
}

/** A relation as written: `users`, `app.users`. */
export function qualified(relation: RangeVar | undefined): string {
  if (!relation?.relname) return '?'
  return relation.schemaname ? `${relation.schemaname}.${relation.relname}` : relation.relname
}

/** `OBJECT_FOREIGN_TABLE` → `foreign table`. */
export function objectKind(type: string | undefined): string {
  const kind = (type ?? 'OBJECT_OBJECT').replace('OBJECT_', '').replace(/_/g, ' ').toLowerCase()
  return kind === 'matview' ? 'materialized view' : kind
}

/** The RangeVars of a relation list (TRUNCATE a, b; LOCK TABLE a, b). */
export function relationsOf(list: Node[] | undefined): RangeVar[] {
  return (list ?? []).flatMap((r) => ('RangeVar' in r ? [r.RangeVar] : []))
}

/**
 * An ALTER TABLE's commands. (A loop, not flatMap: this runs for every ALTER TABLE, most of a
 * migration, in code that a one-shot CLI runs before the JIT has optimised it.)
 */
export function alterCommands(stmt: AlterTableStmt): AlterTableCmd[] {
  const cmds: AlterTableCmd[] = []
  for (const item of stmt.cmds ?? []) if ('AlterTableCmd' in item) cmds.push(item.AlterTableCmd)
  return cmds
}

/** A column definition's constraints (NOT NULL, DEFAULT, REFERENCES, …). */
export function columnConstraints(column: ColumnDef): Constraint[] {
  const constraints: Constraint[] = []
  for (const c of column.constraints ?? []) if ('Constraint' in c) constraints.push(c.Constraint)
  return constraints
}

export function columnDefOf(cmd: AlterTableCmd): ColumnDef | undefined {
  return cmd.def && 'ColumnDef' in cmd.def ? cmd.def.ColumnDef : undefined
}

/** A column's type as the parser has it: `character varying(150)` is varchar with [150]. */
export function columnTypeOf(typeName: TypeName | undefined): ColumnType | undefined {
  const name = lastName(typeName?.names)
  if (name === undefined || typeName?.setof || typeName?.pct_type) return undefined
  const mods: number[] = []
  for (const mod of typeName?.typmods ?? []) {
    if (!('A_Const' in mod)) return undefined
    mods.push(mod.A_Const.ival?.ival ?? 0)
  }
  return { name, mods, array: (typeName?.arrayBounds ?? []).length > 0 }
}

/**
 * A pattern for `prefix` followed by the identifier `name` (quoted or not), to find a command
 * in the statement's text; undefined when the name is unknown.
 */
export function near(prefix: RegExp, name: string | undefined): RegExp | undefined {
  if (name === undefined) return undefined
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const bare = /^[a-z_][a-z0-9_$]*$/.test(name) ? `${escaped}(?![\\w$])|` : ''
  return new RegExp(`${prefix.source}(?:${bare}"${escaped.replace(/"/g, '""')}")`, 'i')
}

/** Every node of a kind inside a parse tree. */
export function findNodes(value: unknown, kind: string): unknown[] {
  const found: unknown[] = []
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const item of v) visit(item)
    } else if (v !== null && typeof v === 'object') {
      for (const key in v) {
        const child = (v as Record<string, unknown>)[key]
        if (key === kind) found.push(child)
        visit(child)
      }
    }
  }
  visit(value)
  return found
}
