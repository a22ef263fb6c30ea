/**
 * Drill 1 (issue 8): the crash walk of issue 6 repeated with HAProxy as the load balancer. Every
 * failpoint of the plan, each on a fresh stack (database, HAProxy, app servers): SIGKILL there,
 * then `release --resume`, and the release ends as an uninterrupted one does.
 */
import { describe } from 'vitest'
import { describeCrashWalk } from '../support/crash-walk.js'
import { haproxyTarget } from '../support/haproxy-stack.js'
import { haveBinary } from '../support/process.js'

describe.runIf(haveBinary('haproxy'))('HAProxy', () => {
  describeCrashWalk(haproxyTarget, { concurrency: 2, timeoutMs: 240_000 })
})
