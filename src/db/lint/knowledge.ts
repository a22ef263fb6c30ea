/**
 * What the linter knows of the schema beyond the statement in front of it: column types and the
 * NOT NULL facts proven by validated CHECK constraints. It comes from earlier files of the same
 * directory (they ran before this one) and, at release time, from the live catalog (the runner
 * reads it before linting), so that a change which is safe *given the column's current type*
 * is not flagged only because the file alone cannot tell that type.
 */

/** A column type as the parser and the catalog both can say it: `varchar` with modifiers [150]. */
export interface ColumnType {
  /** The type's internal name without schema (`varchar`, `numeric`, `timestamptz`, `int4`). */
  name: string
  /** Type modifiers: [length], [precision, scale], [precision]; empty when none. */
  mods: number[]
  array: boolean
}

/**
 * Facts about existing columns, by table (`schema.table`) and column: forgetting a dropped table
 * is one delete, not a scan of every column the file has seen.
 */
export class SchemaKnowledge {
  /**
   * What the files create, shared from file to file when they are applied together: the runner's
   * pending files of one release, where a table 001 creates is as new to 002 (no running version
   * uses it). Undefined for `bluegreen lint DIR`, whose earlier files may be releases long applied.
   */
  readonly created: Set<string> | undefined

  constructor({ appliedTogether = false }: { appliedTogether?: boolean } = {}) {
    this.created = appliedTogether ? new Set() : undefined
  }

  private readonly columnTypes = new Map<string, Map<string, ColumnType>>()
  private readonly notNull = new Map<string, Set<string>>()
  /** CHECK (col IS NOT NULL …) constraints by table, then constraint → the columns it proves. */
  private readonly notNullChecks = new Map<string, Map<string, string[]>>()

  /** Indexes by schema-qualified name: their table and columns (USING INDEX reads them). */
  private readonly indexes = new Map<string, { table: string; columns: string[] }>()

  /** Columns by table that pick one row: a primary key's, a unique index's only column. */
  private readonly keys = new Map<string, Set<string>>()

  recordIndex(index: string, table: string, columns: string[], unique = false): void {
    this.indexes.set(index, { table, columns })
    if (unique && columns.length === 1) this.recordKey(table, columns[0])
  }

  /** Tables an earlier file created or the catalog has: a CREATE TABLE IF NOT EXISTS finds them. */
  private readonly tables = new Set<string>()

  recordTable(table: string): void {
    this.tables.add(table)
  }

  hasTable(table: string): boolean {
    return this.tables.has(table)
  }

  recordKey(table: string, column: string): void {
    of(this.keys, table, () => new Set()).add(column)
  }

  isKey(table: string, column: string): boolean {
    return this.keys.get(table)?.has(column) ?? false
  }

  index(index: string): { table: string; columns: string[] } | undefined {
    return this.indexes.get(index)
  }

  setColumnType(table: string, column: string, type: ColumnType): void {
    of(this.columnTypes, table, () => new Map()).set(column, type)
  }

  columnType(table: string, column: string): ColumnType | undefined {
    return this.columnTypes.get(table)?.get(column)
  }

  forgetColumn(table: string, column: string): void {
    this.columnTypes.get(table)?.delete(column)
    this.notNull.get(table)?.delete(column)
  }

  forgetTable(table: string): void {
    this.tables.delete(table)
    this.keys.delete(table)
    this.columnTypes.delete(table)
    this.notNull.delete(table)
    this.notNullChecks.delete(table)
  }

  recordNotNullCheck(table: string, constraint: string, columns: string[], validated: boolean): void {
    of(this.notNullChecks, table, () => new Map()).set(constraint, columns)
    if (validated) for (const column of columns) this.recordProvenNotNull(table, column)
  }

  recordValidated(table: string, constraint: string): void {
    for (const column of this.notNullChecks.get(table)?.get(constraint) ?? [])
      this.recordProvenNotNull(table, column)
  }

  /** The column is NOT NULL already, or a validated CHECK proves it: SET NOT NULL skips the scan. */
  recordProvenNotNull(table: string, column: string): void {
    of(this.notNull, table, () => new Set()).add(column)
  }

  isProvenNotNull(table: string, column: string): boolean {
    return this.notNull.get(table)?.has(column) ?? false
  }
}

function of<V>(map: Map<string, V>, key: string, make: () => V): V {
  let value = map.get(key)
  if (value === undefined) map.set(key, (value = make()))
  return value
}

/** Types whose values may be cast to a wider type of the same family without a rewrite. */
const widenable = new Set([
  'varchar',
  'text',
  'numeric',
  'timestamp',
  'timestamptz',
  'time',
  'timetz',
  'interval',
  'inet',
  'cidr',
  'varbit',
])

/**
 * Could a change to `to` be one that PostgreSQL makes without rewriting the table, for some old
 * type? When the old type is unknown and no USING expression converts it, such a change gets the
 * benefit of the doubt offline; the runner checks it against the catalog before applying.
 */
export function mayWidenTo(to: ColumnType): boolean {
  // An array's elements are converted one by one: a rewrite, even where the element type widens.
  return widenable.has(to.name) && to.name !== 'cidr' && !to.array
}

/** The same type, modifiers and all. */
export function sameType(a: ColumnType, b: ColumnType): boolean {
  return a.name === b.name && a.array === b.array && a.mods.join(',') === b.mods.join(',')
}

/**
 * Whether changing a column from `from` to `to` needs neither a rewrite nor a scan (PostgreSQL's
 * binary-coercible changes: ATColumnChangeRequiresRewrite finds only a relabel, no length check).
 */
export function widensWithoutRewrite(from: ColumnType, to: ColumnType): boolean {
  if (sameType(from, to)) return true
  // An array's elements are converted one by one: a rewrite, even where the element type widens.
  if (from.array || to.array) return false
  const unbounded = to.mods.length === 0
  const [fromMod, fromScale] = from.mods
  const [toMod, toScale] = to.mods
  switch (from.name) {
    case 'varchar':
      if (to.name === 'text') return true
      return to.name === 'varchar' && (unbounded || (fromMod !== undefined && toMod >= fromMod))
    case 'text':
      return to.name === 'varchar' && unbounded
    case 'varbit':
      return to.name === 'varbit' && (unbounded || (fromMod !== undefined && toMod >= fromMod))
    case 'numeric':
      if (to.name !== 'numeric') return false
      if (unbounded) return true
      // numeric(p) is numeric(p, 0); more digits before the point, and the same scale.
      return fromMod !== undefined && toMod >= fromMod && (toScale ?? 0) === (fromScale ?? 0)
    case 'timestamp':
    case 'timestamptz':
    case 'time':
    case 'timetz':
    case 'interval':
      // Without a precision these keep 6 digits, the most there is.
      return to.name === from.name && (toMod ?? 6) >= (fromMod ?? 6)
    case 'cidr':
      return to.name === 'inet' && unbounded
    default:
      return false
  }
}

/** `varchar(150)`, `numeric(12,2)[]`: for messages. */
export function typeLabel(type: ColumnType): string {
  const names: Record<string, string> = {
    int2: 'smallint',
    int4: 'integer',
    int8: 'bigint',
    float4: 'real',
    float8: 'double precision',
    bool: 'boolean',
    bpchar: 'char',
  }
  return `${names[type.name] ?? type.name}${type.mods.length ? `(${type.mods.join(',')})` : ''}${type.array ? '[]' : ''}`
}
