/**
 * `bluegreen demo`, for src/commands/demo.ts and src/ui/demo.ts: the script (script.ts) that
 * runs the release on a stack of its own (stack.ts), says why (narration.ts) and stops
 * everything it started (teardown.ts).
 */
export { withProcessEnvironment } from './environment.js'
export { runDemo } from './script.js'
export { parsePostgresChoice } from './stack.js'
export * from './types.js'
