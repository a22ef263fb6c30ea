/**
 * Runs one backfill in a process of its own, so a test can kill it mid-way (SIGKILL: no
 * cleanup, no last words) and check what a restart does. Usage: backfill-child.ts URL JSON-OPTIONS
 */
import { backfill, type BackfillOptions } from '../../../src/db/backfill.js'

const [url, json] = process.argv.slice(2)
const options = JSON.parse(json) as BackfillOptions
await backfill(url, {
  ...options,
  onProgress: (p) => process.stdout.write(`progress ${p.done} ${p.batches}\n`),
})
process.stdout.write('finished\n')
