#!/usr/bin/env node
// The demo's deploy step: asks the demo stack to run VERSION on POOL. A real plan runs its own
// deploy tool here (kubectl, ansible, a CI job); bluegreen passes the same two arguments and the
// environment (BLUEGREEN_POOL, BLUEGREEN_VERSION, BLUEGREEN_APP, …).
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
const response = await fetch(control, { method: 'POST', body: JSON.stringify({ pool, version }) })
if (!response.ok) {
  console.error(`deploy refused: ${response.status} ${await response.text()}`)
  process.exit(1)
}
console.log(`${pool} now runs ${version}`)
