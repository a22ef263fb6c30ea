/** Migration directories laid out as users' tools make them. */
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'

/**
 * What kubelet writes for a ConfigMap volume: the files in a timestamped directory, `..data`
 * linked to it, and each file a link through `..data` (so an update is one atomic rename).
 */
export function configMap(dir: string, files: Record<string, string>): void {
  const stamp = '..2026_05_01_10_00_00.123456789'
  mkdirSync(join(dir, stamp), { recursive: true })
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, stamp, name), sql)
  symlinkSync(stamp, join(dir, '..data'))
  for (const name of Object.keys(files)) symlinkSync(`..data/${name}`, join(dir, name))
}
