#!/usr/bin/env node
// The AWS SDK warns about Node versions on every client construction; we pin its version instead.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const { execute } = await import('@oclif/core')
await execute({ dir: import.meta.url })
