/** What production answers: one request through the load balancer's listener. */
import { get } from 'node:http'

export interface ProductionAnswer {
  url: string
  status: number
  pool?: string
  version?: string
  profiles: string[]
}

/** GETs production's front page: which pool and version answered, and the profiles it read. */
export async function askProduction(productionUrl: string): Promise<ProductionAnswer> {
  const url = `${productionUrl}/`
  const { status, body } = await getJson(url)
  const answer = body as { pool?: string; version?: string; profiles?: string[] }
  return { url, status, pool: answer.pool, version: answer.version, profiles: answer.profiles ?? [] }
}

/** One GET without keep-alive: nothing is left open to hold the process or the servers. */
function getJson(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolveAnswer, reject) => {
    const request = get(url, { agent: false, timeout: 5000 }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString()))
      response.on('end', () => {
        try {
          resolveAnswer({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown })
        } catch {
          resolveAnswer({ status: response.statusCode ?? 0, body: { error: text } })
        }
      })
    })
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} within 5s`)))
    request.on('error', reject)
  })
}
