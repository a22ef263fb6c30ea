/**
 * More model-based sequences than the tests run (test/model/): other seeds, both journals,
 * through the engine and the CLI. `npm run drills` draws a new base seed each time (printed, with
 * a replay line on failure) and runs DRILL_SEQUENCES per journal (default 300); under CI=true the
 * seed is fixed and 12 run, to stay within CI's time (beside the random-timing kill drills).
 */
import { defineSequences } from '../model/sequences.js'

const ci = process.env.CI === 'true'
const engine = Number(process.env.DRILL_SEQUENCES ?? (ci ? 12 : 300))
process.env.MODEL_BASE_SEED ??= ci ? '20270101' : String(Date.now() % 1_000_000_000)
console.log(
  `sequence drill: base seed ${process.env.MODEL_BASE_SEED} (MODEL_BASE_SEED=${process.env.MODEL_BASE_SEED} repeats it)`,
)
defineSequences('postgres', { engine, cli: Math.ceil(engine / 10) })
defineSequences('file', { engine, cli: Math.ceil(engine / 10) })
