/**
 * The open transaction: BEGIN/COMMIT in a file, LOCK TABLE, and a long statement run while an
 * earlier statement's lock is held (the runner commits only around statements that run alone).
 */
import type { AlterTableCmd } from 'libpg-query'
import { lockModes, longRunning, weakAlterCommands } from '../locks.js'
import { alterCommands, near, qualified, relationsOf } from '../names.js'
import { bothPhases, defineRule } from '../rule.js'

export const transactionControl = defineRule({
  meta: {
    id: 'transaction-control',
    severity: 'error',
    phases: bothPhases,
    summary:
      'BEGIN, COMMIT, ROLLBACK and SAVEPOINT in a migration fight the runner, which runs each file in its own transaction. Plain BEGIN … COMMIT blocks (around the whole file, as Django’s sqlmigrate writes, or around parts of it) are read as the transactions they mark, and the runner commits where they do; not a block around a statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY, which then fails as written) or a VALIDATE after other statements of its block (whose locks it would hold through its scan), nor ROLLBACK, SAVEPOINT, a COMMIT outside a block or a BEGIN inside one.',
    hint: 'remove them: each file runs in one transaction, and statements that cannot (CREATE INDEX CONCURRENTLY …) are detected and run alone; to commit part of a migration first, put that part in a file of its own',
    example: {
      unsafe:
        'ALTER TABLE users ADD COLUMN bio text;\nCOMMIT;\nBEGIN;\nALTER TABLE users ADD COLUMN bio_html text;',
      safe: [
        'BEGIN;',
        'ALTER TABLE users ADD COLUMN bio text;',
        'ALTER TABLE users ADD CONSTRAINT users_bio_short CHECK (length(bio) < 10000) NOT VALID;',
        'COMMIT;',
        'BEGIN;',
        'ALTER TABLE users VALIDATE CONSTRAINT users_bio_short;',
        'COMMIT;',
      ].join('\n'),
    },
  },
  check: {
    TransactionStmt(stmt) {
      const kind = (stmt.kind ?? '').replace('TRANS_STMT_', '').replace(/_/g, ' ')
      return { message: `${kind} inside a migration: the runner manages transactions itself` }
    },
  },
})

export const longStatementUnderLock = defineRule({
  meta: {
    id: 'long-statement-under-lock',
    severity: 'error',
    phases: bothPhases,
    summary:
      'A statement that may run long (an UPDATE or DELETE not pinned to keys, INSERT … SELECT, a VALIDATE in the same ALTER TABLE as a change) after a statement that took a lock blocking the application, in the same transaction, holds that lock for its whole run. The runner commits before each VALIDATE CONSTRAINT statement (and each CONCURRENTLY one) by itself; it cannot split anything else.',
    hint: 'put the long statement in a file of its own (each file commits before the next starts), or use a backfill phase for data; validate constraints in a statement of their own',
    example: {
      unsafe: "ALTER TABLE users ADD COLUMN plan text;\nUPDATE users SET plan = 'free' WHERE plan IS NULL;",
      safe: [
        'ALTER TABLE users ADD CONSTRAINT users_plan_known CHECK (plan IS NOT NULL) NOT VALID;',
        '-- the runner commits the ADD before this scan starts',
        'ALTER TABLE users VALIDATE CONSTRAINT users_plan_known;',
      ].join('\n'),
    },
  },
  check: {
    Statement(node, context) {
      if (context.lockHeldBy === undefined) return
      const long = longRunning(node, context)
      if (long === undefined) return
      return {
        message: `${long} runs in the same transaction as ${context.lockHeldBy}, whose lock blocks the application until the whole file commits`,
      }
    },
    AlterTableStmt(stmt) {
      const cmds = alterCommands(stmt)
      const validate = cmds.find((cmd) => cmd.subtype === 'AT_ValidateConstraint')
      const locking = cmds.find((cmd) => !weakAlterCommands.has(cmd.subtype ?? ''))
      if (!validate || !locking || stmt.objtype === 'OBJECT_INDEX') return
      return {
        message: `VALIDATE CONSTRAINT ${validate.name ?? '?'} scans ${qualified(stmt.relation)} in the same ALTER TABLE as ${commandLabel(locking)}, which holds an ACCESS EXCLUSIVE lock through the scan`,
        location: stmt.relation?.location,
        near: near(/\bVALIDATE\s+CONSTRAINT\s+/, validate.name),
      }
    },
  },
})

export const lockTable = defineRule({
  meta: {
    id: 'lock-table',
    severity: 'error',
    phases: bothPhases,
    summary:
      'LOCK TABLE in SHARE mode or stronger blocks the application’s writes (ACCESS EXCLUSIVE and EXCLUSIVE also its reads) until the migration commits.',
    hint: 'drop the LOCK TABLE: each statement takes the lock it needs, and the runner waits for it at most lock_timeout',
    example: {
      unsafe: 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;',
      safe: 'LOCK TABLE orders IN SHARE UPDATE EXCLUSIVE MODE;',
    },
  },
  check: {
    LockStmt(stmt, context) {
      const existing = relationsOf(stmt.relations).filter((r) => !context.isNew(r))
      const mode = stmt.mode ?? 8
      // SHARE (5) and stronger modes block writes; the weaker ones block only DDL and VACUUM.
      if (mode < 5 || existing.length === 0) return
      return {
        message: `LOCK TABLE ${existing.map(qualified).join(', ')} in ${lockModes[mode]} mode blocks the application's ${mode >= 7 ? 'reads and writes' : 'writes'} until the migration commits`,
        location: existing[0].location,
      }
    },
  },
})

/** `AT_AddColumn` → `ADD COLUMN`. */
function commandLabel(cmd: AlterTableCmd): string {
  return (cmd.subtype ?? 'AT_?')
    .replace('AT_', '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase()
}
