import { Flags } from '@oclif/core'
import { BluegreenCommand } from '../cli/base-command.js'
import { withEngine } from '../cli/context.js'
import { confirm } from '../cli/confirm.js'
import { dryRunFlag, planArg, planFlag, waitLockFlag, yesFlag } from '../cli/flags.js'
import { waitLockMs } from '../cli/lock-wait.js'
import { commandLine, requirePlan } from '../cli/invocation.js'

/** `contract --check`'s exit codes: apart from the table's 0–5, so a schedule can tell them from a failure. */
export const contractCheckExit = { waiting: 0, due: 10, overdue: 11 } as const

export default class Contract extends BluegreenCommand {
  static override description =
    'Run the pending contract migrations that are safe and due (--check: change nothing, exit 0 nothing due, 10 due, 11 overdue)'
  static override args = { plan: planArg }
  static override flags = {
    plan: planFlag,
    'dry-run': dryRunFlag,
    yes: yesFlag,
    'wait-lock': waitLockFlag,
    check: Flags.boolean({
      description: `Run nothing: say what is waiting, due or overdue, tell the webhooks once per contract, and exit ${contractCheckExit.waiting} (nothing due), ${contractCheckExit.due} (due) or ${contractCheckExit.overdue} (overdue), for cron jobs and CI schedules`,
      default: false,
      exclusive: ['dry-run', 'backfill', 'yes'],
    }),
    backfill: Flags.boolean({
      description:
        'First bring rows in line that a sync or backfill of the release left (else the contract refuses)',
      env: 'BLUEGREEN_BACKFILL',
      default: false,
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Contract)
    this.json = flags.json
    if (flags.check) return this.check(requirePlan(args.plan, flags.plan, 'contract'), flags.json)
    const decisions = await withEngine(
      {
        planFile: requirePlan(args.plan, flags.plan, 'contract'),
        json: flags.json,
        command: commandLine(this.id, this.argv),
        locks: true,
        waitLockMs: waitLockMs(flags['wait-lock']),
      },
      async (ctx) => {
        const { contract } = await import('../engine/contract.js')
        return contract(ctx, {
          dryRun: flags['dry-run'],
          backfill: flags.backfill,
          confirm: (question) => confirm(question, flags),
        })
      },
    )
    if (this.json) return this.outJson({ type: 'result', ok: true, contracts: decisions })
    if (decisions.length === 0) return this.out('no pending contract migrations')
    for (const d of decisions)
      this.out(
        [
          `${d.status.padEnd(9)} ${d.version}: ${d.files.join(', ')}`,
          ...(d.reason ? [`          ${d.reason}`] : []),
          ...(d.checks ?? []).map((check) => `          check: ${check}`),
        ].join('\n'),
      )
  }

  /** --check: reads, classifies, reminds; runs nothing and takes no lock. */
  private async check(planFile: string, json: boolean): Promise<void> {
    const result = await withEngine(
      { planFile, json, command: commandLine(this.id, this.argv) },
      async (ctx) => {
        const { checkContracts } = await import('../phases/contract-run.js')
        return checkContracts(ctx)
      },
    )
    const { pendingContractStatus } = await import('../engine/status.js')
    const { contractLine } = await import('../ui/status.js')
    const contracts = result.contracts.map(pendingContractStatus)
    if (json)
      this.outJson({ type: 'result', ok: true, state: result.worst, contracts, notified: result.notified })
    else if (contracts.length === 0) this.out('no pending contract migrations')
    else for (const c of contracts) this.out(contractLine(c))
    process.exitCode = contractCheckExit[result.worst]
  }
}
