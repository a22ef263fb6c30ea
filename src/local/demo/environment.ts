/**
 * The one place the demo still writes process.env. The engine's services read their
 * environment from it — the plan's ${VAR}s (withEngine loads the plan without an `env`), the
 * spool's BLUEGREEN_STATE_DIR, the AWS SDK's credentials, the deploy command's variables (it
 * inherits process.env) — so an engine call against the demo stack sees the stack's values
 * while it runs, and the user's own come back when it ends. Once withEngine takes an `env`,
 * the demo's engine runner passes `env.set` there and this goes.
 */
import type { DemoEnvironment } from './types.js'

export async function withProcessEnvironment<T>(env: DemoEnvironment, fn: () => Promise<T>): Promise<T> {
  const saved = new Map<string, string | undefined>()
  for (const key of [...Object.keys(env.set), ...env.unset]) saved.set(key, process.env[key])
  Object.assign(process.env, env.set)
  for (const key of env.unset) delete process.env[key]
  try {
    return await fn()
  } finally {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}
