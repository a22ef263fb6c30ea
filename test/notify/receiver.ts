/**
 * A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every request and
 * answers as the test scripts it (a status, a Retry-After, a hang that never answers).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface Received {
  method: string
  /** Path and query, as sent. */
  path: string
  headers: IncomingHttpHeaders
  body: string
  /** performance.now() when the request's body had arrived. */
  at: number
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang'

export interface Receiver {
  url: string
  port: number
  requests: Received[]
  /** Replies for the next requests, in order; once used up, `fallback` answers. */
  script(...replies: Reply[]): void
  fallback: Reply
  close(): Promise<void>
}

export async function startReceiver(fallback: Reply = { status: 200, body: 'ok' }): Promise<Receiver> {
  const sockets = new Set<Socket>()
  const queue: Reply[] = []
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests: [],
    script: (...replies) => queue.push(...replies),
    fallback,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      receiver.requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: performance.now(),
      })
      const reply = queue.shift() ?? receiver.fallback
      if (reply === 'hang') return
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers })
      res.end(reply.body ?? '')
    })
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  receiver.port = (server.address() as AddressInfo).port
  receiver.url = `http://127.0.0.1:${receiver.port}`
  return receiver
}
