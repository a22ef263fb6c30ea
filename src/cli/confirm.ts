/** Asks before a release or rollback on a terminal; never prompts without one (CD pipelines). */
import { BluegreenError } from '../errors.js'

export async function confirm(question: string, options: { yes: boolean; json: boolean }): Promise<void> {
  if (options.yes || options.json || !process.stdin.isTTY || !process.stdout.isTTY) return
  const { createInterface } = await import('node:readline/promises')
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase()
    if (answer === 'y' || answer === 'yes') return
  } finally {
    rl.close()
  }
  throw new BluegreenError({
    code: 'NOT_CONFIRMED',
    message: 'not confirmed; nothing was done',
    hint: 'answer y, or pass --yes in scripts',
  })
}
