/** Durations in plans are strings such as `250ms`, `90s`, `5m`, `24h`, `14d`. */
const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
export const durationPattern = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

export function parseDuration(text: string): number {
  const match = durationPattern.exec(text.trim())
  if (!match) throw new Error(`not a duration: ${text}`)
  return Math.round(Number(match[1]) * units[match[2] as keyof typeof units])
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)}s`
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(1)}m`
  if (ms < 86_400_000) return `${+(ms / 3_600_000).toFixed(1)}h`
  return `${+(ms / 86_400_000).toFixed(1)}d`
}
