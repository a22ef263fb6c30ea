#!/usr/bin/env node
import module from 'node:module'
// Node 22.1+ keeps compiled code between runs: a short command spends most of its time loading
// modules. The fast path is loaded through a cache of our own (bin/code-cache.js), on every Node.
module.enableCompileCache?.()
// The AWS SDK warns about Node versions on every client construction; we pin its version instead.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
// A plain `bluegreen rollback …` runs without loading oclif: it is what runs during an incident
// (src/cli/fast-path.ts). Everything else, and anything the fast path does not recognise, is oclif's.
const fastPath = await import('../dist/cli/fast-path.js').catch((error) => {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error
  process.stderr.write(
    'bluegreen is not built (no dist/): run `npm install`, or `npm run build` after a change\n',
  )
  process.exit(70)
})
let { runFast } = fastPath
if (fastPath.wouldRunFast(process.argv.slice(2))) {
  const { wantsCodeCache, loadWithCodeCache } = await import('./code-cache.js')
  if (wantsCodeCache())
    ({ runFast } = loadWithCodeCache(
      new URL(`../dist/cli/fast-path-${process.argv[2]}.cjs`, import.meta.url),
      process.argv[2],
    ))
}
if (!(await runFast(process.argv.slice(2)))) {
  const { execute, settings } = await import('@oclif/core')
  // Always run the built commands: with NODE_ENV=test or development oclif would otherwise try to
  // transpile src/ on the fly (slow, and not what users or the tests run). bin/dev.js is for that.
  settings.enableAutoTranspile = false
  await execute({ dir: import.meta.url })
}
