/**
 * A real Prometheus for tests (Debian's /usr/bin/prometheus): config and TSDB in a temp dir,
 * foreground, on a free port of 127.0.0.1, scraping every second. And a small app whose
 * /metrics counters the test drives: requests at a steady rate, a chosen fraction of them 5xx.
 * Both are stopped by the test, Prometheus by PID.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sampleMetric } from '../../src/http/prometheus.js'
import { findBinary, freePort, startProcess, waitFor, type Started } from '../support/process.js'

export interface TestPrometheus {
  url: string
  process: Started
  stop(): Promise<void>
}

/**
 * Whether Prometheus can be started. Under CI=true a missing binary fails the run; elsewhere
 * the tests are skipped with a printed reason.
 */
export function havePrometheus(): boolean {
  if (findBinary('prometheus')) return true
  const reason = 'prometheus is not installed (run .ci/run, or apt-get install prometheus)'
  if (process.env.CI === 'true') throw new Error(`${reason}; CI requires it`)
  console.warn(`skipping: ${reason}`)
  return false
}

export async function startPrometheus(targets: string[]): Promise<TestPrometheus> {
  const binary = findBinary('prometheus')
  if (!binary) throw new Error('prometheus is not installed')
  const dir = await mkdtemp(join(tmpdir(), 'bluegreen-prometheus-'))
  const port = await freePort()
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: app',
    '    scrape_interval: 1s',
    '    scrape_timeout: 900ms',
    '    static_configs:',
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n')
  await writeFile(join(dir, 'prometheus.yml'), config)
  const child = startProcess(binary, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h',
    '--log.level=warn',
  ])
  const url = `http://127.0.0.1:${port}`
  try {
    await waitFor(
      async () => {
        if (child.child.exitCode !== null) throw new Error('exited')
        return (await fetch(`${url}/-/ready`)).ok
      },
      30_000,
      'prometheus to be ready',
    )
  } catch (error) {
    await child.stop()
    await rm(dir, { recursive: true, force: true })
    throw new Error(`prometheus did not start: ${String(error)}\n${child.output()}`)
  }
  return {
    url,
    process: child,
    async stop() {
      await child.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export interface MetricsApp {
  /** host:port, for a scrape target. */
  address: string
  url: string
  /** The fraction of requests counted as 5xx from now on. */
  setErrorRatio(ratio: number): void
  /** The Authorization header of the last request that was not a scrape. */
  lastAuthorization(): string | undefined
  close(): Promise<void>
}

/**
 * An app that "serves" 50 requests a second (counted every 100 ms) and exposes
 * app_requests_total{code="200"|"500"} in the Prometheus text format. Paths under /hang never
 * answer (for timeouts); anything else but /metrics is a 404 page, as a proxy in front of the
 * wrong server would give.
 */
export async function startMetricsApp(): Promise<MetricsApp> {
  let errorRatio = 0
  let authorization: string | undefined
  const totals = { ok: 0, error: 0 }
  const tick = setInterval(() => {
    totals.error += 5 * errorRatio
    totals.ok += 5 * (1 - errorRatio)
  }, 100)
  const server: Server = createServer((req, res) => {
    if (req.url === '/metrics') {
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(
          [
            '# HELP app_requests_total Requests served, by status code.',
            '# TYPE app_requests_total counter',
            `app_requests_total{code="200"} ${totals.ok}`,
            `app_requests_total{code="500"} ${totals.error}`,
            '',
          ].join('\n'),
        )
      return
    }
    authorization = req.headers.authorization
    if (req.url?.startsWith('/hang')) return
    res
      .writeHead(404, { 'content-type': 'text/html' })
      .end('<html><body><h1>404 Not Found</h1></body></html>')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    setErrorRatio: (ratio) => (errorRatio = ratio),
    lastAuthorization: () => authorization,
    close: () =>
      new Promise((resolve) => {
        clearInterval(tick)
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** The error-rate query the tests watch: 5xx per second over all requests per second. */
export const errorRateQuery =
  'sum(rate(app_requests_total{code=~"5.."}[5s])) / sum(rate(app_requests_total[5s]))'

/**
 * The app at 1% errors and a Prometheus scraping it, once the error rate has a value (rates
 * need two scrapes).
 */
export async function startScrapedApp(): Promise<{ app: MetricsApp; prometheus: TestPrometheus }> {
  const app = await startMetricsApp()
  app.setErrorRatio(0.01)
  const prometheus = await startPrometheus([app.address])
  await waitFor(
    async () =>
      (await sampleMetric({ url: prometheus.url, query: errorRateQuery, max: 1, timeoutMs: 2000 })).ok,
    30_000,
    'the first error-rate value',
  )
  return { app, prometheus }
}
