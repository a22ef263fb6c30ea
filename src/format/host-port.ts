/** `10.0.0.5:8080` and `[::1]:8080` → address and port: the one parser for every host:port in a plan. */
import { BluegreenError } from '../errors.js'

export function parseHostPort(text: string): { address: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(text)
  const port = match ? Number(match[2]) : NaN
  if (!match || !(port >= 1 && port <= 65535)) {
    throw new BluegreenError({
      code: 'PLAN_INVALID',
      message: `expected host:port, got ${JSON.stringify(text)}`,
      hint: 'Write the address as host:port, e.g. 10.0.0.5:443.',
    })
  }
  return { address: match[1].replace(/^\[(.*)\]$/, '$1'), port }
}
