/**
 * A TCP pass-through that holds every chunk `delayMs` before passing it on, each way: a database
 * across a network (an RDS instance in another availability zone is about 1 ms away) in front
 * of the local PostgreSQL. On 127.0.0.1; its connections close with either side.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

export interface LatencyProxy {
  /** `url` (a postgres:// URL) with its host and port replaced by the proxy's. */
  url: string
  close(): Promise<void>
}

export async function startLatencyProxy(url: string, delayMs: number): Promise<LatencyProxy> {
  const target = new URL(url)
  const sockets = new Set<Socket>()
  const later = (write: () => void) => setTimeout(write, delayMs)
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname)
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from)
      from.on('data', (chunk: Buffer) => later(() => to.writable && to.write(chunk)))
      from.on('close', () => later(() => to.destroy()))
      from.on('error', () => {})
    }
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const proxied = new URL(url)
  proxied.hostname = '127.0.0.1'
  proxied.port = String((server.address() as AddressInfo).port)
  return {
    url: proxied.href,
    close: () =>
      new Promise((done) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => done())
      }),
  }
}
