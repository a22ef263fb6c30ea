/**
 * Replaces a file so that a reader (or a load balancer restarting at that moment) sees either the
 * old contents or the new, never a half-written file: write a temporary file in the same
 * directory (rename is only atomic within one file system), fsync it, rename it over the target,
 * then fsync the directory so the rename itself survives a crash.
 */
import { randomBytes } from 'node:crypto'
import { open, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export async function writeFileAtomic(path: string, contents: string): Promise<void> {
  const dir = dirname(path)
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  // Keep the mode of the file being replaced (nginx or HAProxy may run as another user).
  const mode = await stat(path).then(
    (s) => s.mode & 0o777,
    () => 0o644,
  )
  const handle = await open(temp, 'w', mode)
  try {
    await handle.writeFile(contents)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temp, path)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  const dirHandle = await open(dir, 'r')
  try {
    await dirHandle.sync()
  } catch {
    // Some file systems do not support fsync on a directory; the rename is still atomic.
  } finally {
    await dirHandle.close()
  }
}
