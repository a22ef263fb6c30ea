/**
 * More model-based sequences than CI runs (test/model/): other seeds, both journals, through the
 * engine and the CLI. DRILL_SEQUENCES sets how many per journal (default 300).
 */
import { defineSequences } from '../model/sequences.js'

const engine = Number(process.env.DRILL_SEQUENCES ?? 300)
process.env.MODEL_BASE_SEED ??= String(Date.now() % 1_000_000_000)
defineSequences('postgres', { engine, cli: Math.ceil(engine / 10) })
defineSequences('file', { engine, cli: Math.ceil(engine / 10) })
