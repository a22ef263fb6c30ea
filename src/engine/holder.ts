import type { EngineContext } from './context.js'
import { currentHolder, type LockHolder } from './journal.js'

export function currentHolderFor(ctx: EngineContext): LockHolder {
  return { ...currentHolder(ctx.command), holder: ctx.actor }
}
