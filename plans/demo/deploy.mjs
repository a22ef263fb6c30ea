#!/usr/bin/env node
// The demo's deploy step: asks the demo stack to run VERSION on POOL. A real plan runs its own
// deploy tool here (kubectl, ansible, a CI job); bluegreen passes the same two arguments and the
// environment (BLUEGREEN_POOL, BLUEGREEN_VERSION, BLUEGREEN_APP, …).
//
// node:http, not fetch: fetch loads its HTTP client on first use, which took longer than the
// deploy itself (430 ms against 170 ms for the whole script, `node -e 0` 140 ms).
import { request } from 'node:http'

const [pool, version] = process.argv.slice(2)
const control = process.env.BLUEGREEN_DEMO_CONTROL
if (!pool || !version) {
  console.error('usage: deploy.mjs POOL VERSION')
  process.exit(2)
}
if (!control) {
  console.error(
    'BLUEGREEN_DEMO_CONTROL is not set: this deploy step only works inside `bluegreen demo` (try `bluegreen demo --keep`)',
  )
  process.exit(1)
}
const body = JSON.stringify({ pool, version })
let response
try {
  response = await new Promise((resolve, reject) => {
    const req = request(
      control,
      {
        method: 'POST',
        // One request: no keep-alive socket left to hold the process open.
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      resolve,
    )
    req.on('error', reject)
    req.end(body)
  })
} catch (error) {
  console.error(`deploy failed: cannot reach the demo's control server at ${control}: ${error.message}`)
  process.exit(1)
}
let text = ''
for await (const chunk of response) text += chunk
if (response.statusCode < 200 || response.statusCode > 299) {
  console.error(`deploy refused: ${response.statusCode} ${text}`)
  process.exit(1)
}
console.log(`${pool} now runs ${version}`)
