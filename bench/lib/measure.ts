/**
 * Side-by-side timing for benchmarks. Cases run interleaved (A B C, A B C, …) rather than one
 * after the other, so a machine that gets busier or quieter during the run affects every case
 * alike, and results are reported as ratios to a baseline measured in the same run: absolute
 * milliseconds on a shared CI runner mean little, ratios much more.
 */
import { spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'

export interface BenchCase {
  name: string
  /** One run; the time until its promise settles is one sample. */
  run: () => Promise<void> | void
}

export interface MeasureOptions {
  /** Timed rounds; each round runs every case once, in a rotating order. Default 15. */
  runs?: number
  /** Untimed rounds first (disk cache, JIT). Default 2. */
  warmup?: number
}

export interface Stats {
  name: string
  /** Milliseconds, in the order measured. */
  samples: number[]
  median: number
  min: number
  max: number
  /** 10th and 90th percentile. */
  p10: number
  p90: number
  /** Spread around the median: (p90 − p10) / median, e.g. 0.12 for ±6%. */
  spread: number
}

export async function measure(cases: BenchCase[], options: MeasureOptions = {}): Promise<Stats[]> {
  const runs = options.runs ?? 15
  const warmup = options.warmup ?? 2
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]))
  for (let round = 0; round < warmup + runs; round++) {
    // Rotate the order so no case always runs right after the same neighbour.
    const order = cases.map((_, i) => cases[(i + round) % cases.length])
    for (const c of order) {
      const start = performance.now()
      await c.run()
      const elapsed = performance.now() - start
      if (round >= warmup) samples.get(c.name)!.push(elapsed)
    }
  }
  return cases.map((c) => stats(c.name, samples.get(c.name)!))
}

/** A case that times itself: one run returns named timings in ms (e.g. "to switch", "to exit"). */
export interface TimedCase {
  name: string
  run: () => Promise<Record<string, number>>
}

/**
 * Like measure, interleaved and rotating, for cases that report more than one time per run.
 * Returns, per case name, the samples of each timing it reported.
 */
export async function measureTimings(
  cases: TimedCase[],
  options: MeasureOptions & { onRun?: () => void } = {},
): Promise<Map<string, Map<string, number[]>>> {
  const runs = options.runs ?? 15
  const warmup = options.warmup ?? 2
  const samples = new Map<string, Map<string, number[]>>(cases.map((c) => [c.name, new Map()]))
  for (let round = 0; round < warmup + runs; round++) {
    for (const c of cases.map((_, i) => cases[(i + round) % cases.length])) {
      const timings = await c.run()
      options.onRun?.()
      if (round < warmup) continue
      const byName = samples.get(c.name)!
      for (const [name, ms] of Object.entries(timings)) byName.set(name, [...(byName.get(name) ?? []), ms])
    }
  }
  return samples
}

/** The samples `measureTimings` gathered for one case and timing, as Stats named `label`. */
export function timingStats(
  samples: Map<string, Map<string, number[]>>,
  caseName: string,
  timing: string,
  label = caseName,
): Stats {
  const values = samples.get(caseName)?.get(timing)
  if (!values) throw new Error(`no samples of ${timing} for ${caseName}`)
  return stats(label, values)
}

export function stats(name: string, samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => quantile(sorted, q)
  const median = at(0.5)
  return {
    name,
    samples,
    median,
    min: sorted[0] ?? NaN,
    max: sorted.at(-1) ?? NaN,
    p10: at(0.1),
    p90: at(0.9),
    spread: median > 0 ? (at(0.9) - at(0.1)) / median : NaN,
  }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  const position = (sorted.length - 1) * q
  const lower = Math.floor(position)
  const upper = Math.ceil(position)
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower)
}

export interface ProcessCaseOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Exit codes that count as success; anything else fails the benchmark. Default [0]. */
  expectExit?: number[]
}

/** A case that starts a process and waits for it to exit; its output is discarded. */
export function processCase(
  name: string,
  command: string,
  args: string[],
  options: ProcessCaseOptions = {},
): BenchCase {
  const expected = options.expectExit ?? [0]
  return {
    name,
    run: () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(command, args, {
          cwd: options.cwd,
          env: options.env ?? process.env,
          stdio: 'ignore',
        })
        child.once('error', reject)
        child.once('exit', (code, signal) => {
          if (code !== null && expected.includes(code)) resolve()
          else reject(new Error(`${name}: \`${command} ${args.join(' ')}\` exited with ${code ?? signal}`))
        })
      }),
  }
}

/** A table of medians, spreads and ratios to `baseline` (one of the cases' names). */
export function formatTable(results: Stats[], baseline: string): string {
  const base = results.find((r) => r.name === baseline)
  if (!base) throw new Error(`no baseline named ${baseline}`)
  const width = Math.max(...results.map((r) => r.name.length), 4)
  const header = `${'case'.padEnd(width)}  ${'median'.padStart(9)}  ${'p10–p90'.padStart(17)}  ${'spread'.padStart(7)}  ratio`
  const rows = results.map((r) => {
    const range = `${r.p10.toFixed(1)}–${r.p90.toFixed(1)} ms`
    const ratio = r.name === baseline ? '1.00× (baseline)' : `${(r.median / base.median).toFixed(2)}×`
    return `${r.name.padEnd(width)}  ${`${r.median.toFixed(1)} ms`.padStart(9)}  ${range.padStart(17)}  ${`±${((r.spread * 100) / 2).toFixed(0)}%`.padStart(7)}  ${ratio}`
  })
  return [header, ...rows].join('\n')
}
