/** "Did you mean …?" for near misses in plan keys, phase kinds, providers and placeholders. */

/** Optimal string alignment distance: Levenshtein plus transpositions (`lsitenerArn`). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
      }
    }
  }
  return d[a.length][b.length]
}

/**
 * The candidate closest to `input`, if it is close enough to be a typo: a case-insensitive
 * match, or at most one edit per three characters (at least one edit).
 */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  if (input.length > 100) return undefined
  const lower = input.toLowerCase()
  const exactIgnoringCase = candidates.find((c) => c.toLowerCase() === lower)
  if (exactIgnoringCase !== undefined) return exactIgnoringCase
  // A short form of a longer name (`{{ver}}`, `contr`) is a typo too, if only one name fits.
  const extended = lower.length >= 3 ? candidates.filter((c) => c.toLowerCase().startsWith(lower)) : []
  if (extended.length === 1) return extended[0]
  let best: { candidate: string; distance: number } | undefined
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase())
    const allowed = Math.max(1, Math.floor(Math.max(input.length, candidate.length) / 3))
    if (distance <= allowed && (best === undefined || distance < best.distance))
      best = { candidate, distance }
  }
  return best?.candidate
}
