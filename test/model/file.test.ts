/** The model-based sequences (sequences.ts) on the file journal: 90 in-process, 10 through the CLI. */
import { defineSequences } from './sequences.js'

defineSequences('file', { engine: 90, cli: 10 })
