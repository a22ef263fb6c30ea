import * as z from 'zod'
import { parseDuration } from '../format/duration.js'
import { allowEmpty, Duration } from '../format/parts.js'
import { recordOwnContract, runDueContracts } from './contract-run.js'
import { migrationDirIssues, migrationsToDo } from './database.js'
import { definePhase } from './types.js'

const ContractConfig = z
  .strictObject({
    dir: z.string().min(1),
    notBefore: Duration.default('0s').describe('Minimum age of a release before its contract may run'),
    remindAfter: Duration.default('28d').describe(
      'How long a contract may stay due before `status` and `contract --check` call it overdue',
    ),
    allowEmpty,
  })
  .describe(
    'Run the earlier releases’ contract migrations that are now safe; record this release’s own as pending',
  )

export const contractPhase = definePhase({
  kind: 'contract',
  schema: ContractConfig,
  touches: 'database',
  needsDatabase: true,
  // Never switch back after a contract step: the old version may no longer fit the schema.
  rollbackOnFailure: false,
  paths: ['dir'],
  describe(c, words) {
    const notBefore = parseDuration(c.notBefore) > 0 ? `, due ${c.notBefore} after this release` : ''
    return {
      target: words.databaseTarget(),
      summary: `run earlier releases’ contract migrations that are now safe; record ${words.path(c.dir)} as pending${notBefore}`,
      details: [
        'a contract runs only once no pool can still run the release before it',
        ...words.steps.flatMap((step) =>
          step.kind === 'contract' ? [] : (step.definition.describe(step.config, words).contractWords ?? []),
        ),
      ],
    }
  },
  checkFiles: (c, at) => migrationDirIssues('contract', c, at),
  dryRun: (c, ctx) => migrationsToDo('contract', c, ctx, 'would record as pending'),
  async run(ctx) {
    // An earlier release's contract whose checks fail waits (and says why) rather than failing
    // this release after its switch; `bluegreen contract` refuses it with exit 5.
    const decisions = await runDueContracts(ctx, { dryRun: false, onUnsafe: 'wait' })
    const own = await recordOwnContract(ctx, ctx.release, ctx.config)
    const ran = decisions.filter((d) => d.status === 'ran')
    const waiting = decisions.filter((d) => d.status === 'waiting')
    const parts = [
      ran.length > 0
        ? `ran contract of ${ran.map((d) => d.version).join(', ')}`
        : 'no earlier contract was due',
      waiting.length > 0 ? `${waiting.length} still waiting` : undefined,
      own.length > 0 ? `recorded ${own.length} of ${ctx.release.version}'s own as pending` : undefined,
    ]
    return parts.filter(Boolean).join('; ')
  },
})
