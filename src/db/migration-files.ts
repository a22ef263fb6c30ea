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
import type { Dirent } from 'node:fs'
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
  let listed: Dirent[]
  try {
    listed = await readdir(dir, { withFileTypes: true })
  } catch (error) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `cannot read the migration directory ${dir}: ${(error as Error).message}`,
      hint: 'check the phase’s `dir` (relative to the plan file)',
      cause: error,
    })
  }
  const sql = listed
    .filter((entry) => entry.name.endsWith('.sql'))
    .sort((a, b) => byCodePoint(a.name, b.name))
  // A plain file's real path is the directory's real path and its name: one realpath for the
  // directory, not one stat and one realpath per file (a directory of 1,000 migrations). Links
  // and anything else are followed one by one, all at once.
  const realDir = sql.some((entry) => entry.isFile()) ? await realpath(dir) : dir
  const links = new Map<string, Promise<string | BluegreenError>>()
  for (const entry of sql) if (!entry.isFile()) links.set(entry.name, follow(join(dir, entry.name)))
  const entries: MigrationEntry[] = []
  for (const { name: file } of sql) {
    const link = links.get(file)
    const realPath = link === undefined ? join(realDir, file) : await link
    if (realPath instanceof BluegreenError) throw realPath
    entries.push({ file, path: join(dir, file), realPath })
  }
  return entries
}

/** The real path of what `path` leads to, or the error that names why it is no migration. */
async function follow(path: string): Promise<string | BluegreenError> {
  const info = await stat(path)
    .then(async (found) => (found.isFile() ? { found, real: await realpath(path) } : { found }))
    .catch((error: NodeJS.ErrnoException) => error)
  if (!(info instanceof Error) && info.real !== undefined) return info.real
  const what =
    info instanceof Error
      ? info.code === 'ENOENT'
        ? 'is a symbolic link to nothing'
        : `cannot be read (${info.code ?? info.message})`
      : info.found.isDirectory()
        ? 'is a directory'
        : 'is not a regular file'
  return new BluegreenError({
    code: 'PLAN_INVALID',
    message: `migration ${path} ${what}`,
    hint: 'every *.sql entry of a migration directory must be a file (or a link to one): fix or remove it',
  })
}

/** The path to show for an entry: its real path when a link leads elsewhere. */
export function shownPath(entry: MigrationEntry): string {
  return entry.realPath === resolve(entry.path) ? entry.path : entry.realPath
}

/** File-name order that does not depend on the locale. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
