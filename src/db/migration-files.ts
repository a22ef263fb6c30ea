/**
 * Which files of a directory are its migrations: the one answer that the runner
 * (`listMigrations`), the plan check, and `bluegreen lint` share, so that lint never passes a
 * file the runner would skip, or the other way round. Node's fs only: the plan check runs it for
 * every command, the rollback too.
 *
 * Migration directories as users have them: a `.sql` entry may be a symlink, or a directory
 * may be one (a Kubernetes ConfigMap mounts each file as `x.sql -> ..data/x.sql`, with
 * `..data -> ..2026_…/`); links are followed, and the real path is kept to show. An entry named
 * `*.sql` that is not a regular file once followed (a directory, a dangling link, a socket) is
 * an error that names it, never silently skipped.
 */
import { readdir, realpath, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { BluegreenError } from '../errors.js'

export interface MigrationEntry {
  /** The file name, e.g. `002_add_email.sql`: what the journal records. */
  file: string
  /** `dir/file`, as the directory lists it. */
  path: string
  /** Where it really is, after following links (equal to `path` when nothing is linked). */
  realPath: string
}

/** The .sql files of `dir` (not of its subdirectories), in file-name order. */
export async function listMigrationFiles(dir: string): Promise<MigrationEntry[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `cannot read the migration directory ${dir}: ${(error as Error).message}`,
      hint: 'check the phase’s `dir` (relative to the plan file)',
      cause: error,
    })
  }
  const entries: MigrationEntry[] = []
  for (const file of names.filter((name) => name.endsWith('.sql')).sort(byCodePoint)) {
    const path = join(dir, file)
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => error)
    if (info instanceof Error || !info.isFile()) {
      const what =
        info instanceof Error
          ? info.code === 'ENOENT'
            ? 'is a symbolic link to nothing'
            : `cannot be read (${info.code ?? info.message})`
          : info.isDirectory()
            ? 'is a directory'
            : 'is not a regular file'
      throw new BluegreenError({
        code: 'PLAN_INVALID',
        message: `migration ${path} ${what}`,
        hint: 'every *.sql entry of a migration directory must be a file (or a link to one): fix or remove it',
      })
    }
    entries.push({ file, path, realPath: await realpath(path) })
  }
  return entries
}

/** The path to show for an entry: its real path when a link leads elsewhere. */
export function shownPath(entry: MigrationEntry): string {
  return entry.realPath === resolve(entry.path) ? entry.path : entry.realPath
}

/** File-name order that does not depend on the locale. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
