import { defineConfig } from 'vitest/config'

// The drills (issue 8): crash, fault and abuse drills against real components, run by
// `npm run drills` and .ci/run. Slower than the unit and end-to-end tests, so kept apart.
export default defineConfig({
  test: {
    include: ['test/drills/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    disableConsoleIntercept: true,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
})
