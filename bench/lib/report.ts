/**
 * What a benchmark hands the runner: a section of bench/RESULTS.md (written from what it measured,
 * never by hand) and the few headline lines that go into the summary at the top.
 */
export interface Section {
  title: string
  /** Markdown: what was measured and how, then the tables. */
  body: string
  /** One line each, for the summary at the top of RESULTS.md. */
  headline: string[]
}

export function codeBlock(text: string): string {
  return ['```', text.trimEnd(), '```'].join('\n')
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a'
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`
}

export function times(value: number, base: number): string {
  return `${(value / base).toFixed(2)}×`
}

/** A markdown table from rows of cells; the first row is the header. */
export function markdownTable(rows: string[][]): string {
  const [header, ...rest] = rows
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rest.map(line)].join('\n')
}
