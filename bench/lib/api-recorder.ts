/**
 * A pass-through in front of the ELBv2 emulator's API that notes when each call arrived and which
 * Action it was, so a rollback's time can be split into "before the first AWS call" (start-up,
 * plan, SDK, journal), the calls up to ModifyListener, and what follows. One local hop: well under
 * a millisecond per call; with `delayMs`, each call waits that long before it is passed on, as a
 * call to AWS's regional endpoint waits on the network.
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'

export interface ApiCall {
  action: string
  /** performance.now() when the request had arrived in full. */
  at: number
}

export interface ApiRecorder {
  url: string
  calls: ApiCall[]
  close(): Promise<void>
}

export async function startApiRecorder(
  target: string,
  { delayMs = 0 }: { delayMs?: number } = {},
): Promise<ApiRecorder> {
  const upstream = new URL(target)
  const agent = new Agent({ keepAlive: true })
  const calls: ApiCall[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const action =
        new URLSearchParams(body.toString()).get('Action') ??
        new URL(req.url ?? '/', upstream).searchParams.get('Action') ??
        '?'
      calls.push({ action, at: performance.now() })
      const pass = () => {
        const forward = request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
            agent,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers)
            answer.pipe(res)
          },
        )
        forward.on('error', (error) => {
          if (!res.headersSent) res.writeHead(502)
          res.end(error.message)
        })
        forward.end(body)
      }
      if (delayMs > 0) setTimeout(pass, delayMs)
      else pass()
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise((done) => {
        agent.destroy()
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}
