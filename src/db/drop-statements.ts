/**
 * The statements of a contract migration that remove something (DROP …, ALTER TABLE … DROP,
 * TRUNCATE, DELETE), so that `bluegreen contract` can say what it is about to destroy before
 * it asks. Read from the parse tree, not by pattern: a column named `drop_reason` is no drop.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseSqlFile } from './sql-file.js'

export interface FileDrops {
  file: string
  /** The removing statements' text, one line each, in file order. */
  statements: string[]
}

export async function dropStatements(dir: string, files: string[]): Promise<FileDrops[]> {
  const result: FileDrops[] = []
  for (const file of files) {
    const parsed = await parseSqlFile(await readFile(join(dir, file), 'utf8'), file)
    const statements = parsed.statements
      .filter((statement) => removes(statement.node))
      .map((statement) => statement.text.replace(/\s+/g, ' ').trim())
    result.push({ file, statements })
  }
  return result
}

function removes(node: object): boolean {
  const [kind] = Object.keys(node)
  const body = (node as Record<string, unknown>)[kind] as Record<string, unknown> | undefined
  if (kind === 'DropStmt' || kind === 'TruncateStmt' || kind === 'DeleteStmt') return true
  if (kind === 'AlterTableStmt') {
    const cmds = (body?.cmds as { AlterTableCmd?: { subtype?: string } }[] | undefined) ?? []
    return cmds.some((cmd) => /^AT_Drop/.test(cmd.AlterTableCmd?.subtype ?? ''))
  }
  return false
}
