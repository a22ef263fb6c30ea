/**
 * Issue 6: the process killed with SIGKILL at every step boundary and in the middle of every
 * step, then `release --resume`: each time the release ends in the same state as an
 * uninterrupted one, with no migration applied twice and no switch made twice. Every failpoint
 * of the plan is walked (test/support/crash-walk.ts), each on a fresh stack: real PostgreSQL,
 * the ELBv2 emulator through the real AWS SDK, the demo app's pools, the built CLI.
 */
import { describeCrashWalk, emulatorTarget } from '../support/crash-walk.js'

describeCrashWalk(emulatorTarget, { concurrency: 2, timeoutMs: 180_000 })
