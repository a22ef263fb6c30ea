/**
 * The compatibility linter's rules, as data: the README renders this list, and the tests lint
 * every example (each `unsafe` example must trip its rule, each `safe` one must pass).
 *
 * Two kinds of rule. Compatibility rules hold in `expand` only: while the old version still runs
 * (and stays the rollback target) the schema must keep serving it. Locking rules hold in both
 * phases: a contract may drop what nobody uses, but it still must not queue every query on a
 * table behind an ACCESS EXCLUSIVE lock for the length of a scan or a rewrite.
 */

export type MigrationPhase = 'expand' | 'contract'
export type Severity = 'error' | 'warning'

export interface LintRule {
  id: string
  severity: Severity
  /** The phases the rule applies to. */
  phases: readonly MigrationPhase[]
  /** What is flagged and why, in one sentence. */
  summary: string
  /** What to do instead: the expand/contract way. */
  hint: string
  example: { unsafe: string; safe: string }
}

const expandOnly = ['expand'] as const
const bothPhases = ['expand', 'contract'] as const

export const lintRules = [
  {
    id: 'drop-table',
    severity: 'error',
    phases: expandOnly,
    summary: 'Dropping a table breaks the running version, which may still read or write it.',
    hint: 'stop using the table in this release, and drop it in a contract migration',
    example: {
      unsafe: 'DROP TABLE IF EXISTS legacy_orders;',
      safe: "COMMENT ON TABLE legacy_orders IS 'unused since v42, dropped in contract';",
    },
  },
  {
    id: 'drop-column',
    severity: 'error',
    phases: expandOnly,
    summary: 'Dropping a column breaks the running version, which may still select or insert it.',
    hint: 'stop using the column in this release, and drop it in a contract migration',
    example: {
      unsafe: 'ALTER TABLE users DROP COLUMN nickname;',
      safe: 'ALTER TABLE users ALTER COLUMN nickname DROP NOT NULL;',
    },
  },
  {
    id: 'drop-view',
    severity: 'error',
    phases: expandOnly,
    summary: 'Dropping a view or materialized view breaks the running version, which may still query it.',
    hint: 'stop using the view in this release, and drop it in a contract migration',
    example: {
      unsafe: 'DROP VIEW active_users;',
      safe: 'CREATE VIEW active_users_v2 AS SELECT id FROM users;',
    },
  },
  {
    id: 'drop-schema',
    severity: 'error',
    phases: expandOnly,
    summary: 'Dropping a schema removes everything in it while the running version still uses it.',
    hint: 'stop using the schema in this release, and drop it in a contract migration',
    example: { unsafe: 'DROP SCHEMA reporting CASCADE;', safe: 'CREATE SCHEMA IF NOT EXISTS reporting_v2;' },
  },
  {
    id: 'drop-object',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Dropping a type, domain, function, procedure or sequence breaks the running version if it uses it.',
    hint: 'stop using it in this release, and drop it in a contract migration',
    example: {
      unsafe: 'DROP FUNCTION order_total(bigint);',
      safe: 'CREATE FUNCTION order_total_v2(bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT 0::numeric $$;',
    },
  },
  {
    id: 'truncate',
    severity: 'error',
    phases: expandOnly,
    summary: 'TRUNCATE destroys data the running version still serves, and takes an ACCESS EXCLUSIVE lock.',
    hint: 'empty tables in a contract migration, once no running version needs the rows',
    example: { unsafe: 'TRUNCATE sessions;', safe: 'DELETE FROM sessions WHERE expires_at < now();' },
  },
  {
    id: 'delete-all-rows',
    severity: 'error',
    phases: expandOnly,
    summary: 'DELETE without WHERE destroys data the running version still serves.',
    hint: 'delete in a contract migration, or restrict the DELETE with a WHERE clause',
    example: { unsafe: 'DELETE FROM sessions;', safe: 'DELETE FROM sessions WHERE expires_at < now();' },
  },
  {
    id: 'rename-table',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Renaming a table or view (or moving it to another schema) breaks the running version, which uses the old name.',
    hint: 'create the new table (or a view with the new name over the old table), write to both, backfill, and drop the old name in a contract migration',
    example: {
      unsafe: 'ALTER TABLE customers RENAME TO clients;',
      safe: 'CREATE VIEW clients AS SELECT * FROM customers;',
    },
  },
  {
    id: 'rename-column',
    severity: 'error',
    phases: expandOnly,
    summary: 'Renaming a column breaks the running version, which uses the old name.',
    hint: 'add a new column, backfill it (and keep both in sync, e.g. with a trigger), switch the code, and drop the old column in a contract migration',
    example: {
      unsafe: 'ALTER TABLE users RENAME COLUMN name TO full_name;',
      safe: 'ALTER TABLE users ADD COLUMN full_name text;',
    },
  },
  {
    id: 'rename-object',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Renaming a schema, type, enum value, function or sequence breaks the running version, which uses the old name.',
    hint: 'create the new object next to the old one, switch the code, and drop the old one in a contract migration',
    example: {
      unsafe: "ALTER TYPE order_status RENAME VALUE 'shipped' TO 'sent';",
      safe: "CREATE TYPE order_state AS ENUM ('new', 'sent');",
    },
  },
  {
    id: 'alter-column-type',
    severity: 'error',
    phases: bothPhases,
    summary:
      'Changing a column’s type rewrites the table (and its indexes) under an ACCESS EXCLUSIVE lock, and the running version may not read the new type. Changes PostgreSQL makes without a rewrite pass (varchar(n) to varchar(m > n) or text, numeric precision up with the same scale, timestamp precision up, cidr to inet): the old type comes from earlier files of the directory and, at release time, from the live catalog; when neither tells and no USING converts the values, `bluegreen lint` lets such a change pass and the runner checks it before applying.',
    hint: 'add a column of the new type, backfill it, switch the code, and drop the old column in a contract migration',
    example: {
      unsafe: 'ALTER TABLE orders ALTER COLUMN total TYPE bigint;',
      safe: [
        'ALTER TABLE orders ADD COLUMN total_cents bigint;',
        '-- widening without a rewrite passes: varchar(n) to varchar(m > n) or text, numeric precision up, cidr to inet',
        'ALTER TABLE orders ALTER COLUMN note TYPE text;',
      ].join('\n'),
    },
  },
  {
    id: 'add-not-null-column',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Adding a NOT NULL column without a default fails on a non-empty table, and the running version’s INSERTs do not fill it.',
    hint: 'add the column as nullable or with a constant DEFAULT; enforce NOT NULL later with a CHECK (col IS NOT NULL) NOT VALID constraint',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN country text NOT NULL;',
      safe: "ALTER TABLE users ADD COLUMN country text NOT NULL DEFAULT 'unknown';",
    },
  },
  {
    id: 'set-not-null',
    severity: 'error',
    phases: bothPhases,
    summary:
      'SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock (and rejects the running version’s INSERTs that leave the column out).',
    hint: 'ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT c (no blocking lock), then SET NOT NULL uses the constraint and skips the scan',
    example: {
      unsafe: 'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
      safe: [
        'ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;',
        'ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;',
        'ALTER TABLE users ALTER COLUMN email SET NOT NULL;',
      ].join('\n'),
    },
  },
  {
    id: 'add-enum-value',
    severity: 'error',
    phases: expandOnly,
    summary:
      'Adding a value to an existing enum lets the new version write a value the running version does not understand.',
    hint: 'create a new enum type with the new value and add a new column of that type; switch the code, and drop the old column in a contract migration',
    example: {
      unsafe: "ALTER TYPE order_status ADD VALUE 'refunded';",
      safe: [
        "CREATE TYPE order_status_v2 AS ENUM ('new', 'paid', 'refunded');",
        'ALTER TABLE orders ADD COLUMN status_v2 order_status_v2;',
      ].join('\n'),
    },
  },
  {
    id: 'drop-default',
    severity: 'warning',
    phases: expandOnly,
    summary: 'Dropping a column default breaks the running version’s INSERTs that rely on it.',
    hint: 'keep the default until the old version is gone, and drop it in a contract migration',
    example: {
      unsafe: 'ALTER TABLE users ALTER COLUMN role DROP DEFAULT;',
      safe: "ALTER TABLE users ALTER COLUMN role SET DEFAULT 'member';",
    },
  },
  {
    id: 'create-index',
    severity: 'error',
    phases: bothPhases,
    summary: 'CREATE INDEX without CONCURRENTLY blocks every write to the table while the index builds.',
    hint: 'use CREATE INDEX CONCURRENTLY (bluegreen runs it outside a transaction, and retries it on lock timeout)',
    example: {
      unsafe: 'CREATE INDEX orders_user_id_idx ON orders (user_id);',
      safe: 'CREATE INDEX CONCURRENTLY orders_user_id_idx ON orders (user_id);',
    },
  },
  {
    id: 'drop-index',
    severity: 'error',
    phases: bothPhases,
    summary: 'DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table.',
    hint: 'use DROP INDEX CONCURRENTLY',
    example: {
      unsafe: 'DROP INDEX IF EXISTS orders_user_id_idx;',
      safe: 'DROP INDEX CONCURRENTLY IF EXISTS orders_user_id_idx;',
    },
  },
  {
    id: 'reindex',
    severity: 'error',
    phases: bothPhases,
    summary:
      'REINDEX without CONCURRENTLY blocks writes to the table (and reads through the index) while it rebuilds.',
    hint: 'use REINDEX ... CONCURRENTLY',
    example: {
      unsafe: 'REINDEX INDEX orders_user_id_idx;',
      safe: 'REINDEX INDEX CONCURRENTLY orders_user_id_idx;',
    },
  },
  {
    id: 'add-foreign-key',
    severity: 'error',
    phases: bothPhases,
    summary: 'Adding a foreign key checks every row while it locks both tables against writes.',
    hint: 'ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in a later statement (it takes a lock that lets reads and writes go on)',
    example: {
      unsafe: 'ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);',
      safe: [
        'ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;',
        'ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;',
      ].join('\n'),
    },
  },
  {
    id: 'add-check-constraint',
    severity: 'error',
    phases: bothPhases,
    summary: 'Adding a CHECK constraint scans every row under an ACCESS EXCLUSIVE lock.',
    hint: 'ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT in a later statement',
    example: {
      unsafe: 'ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0);',
      safe: [
        'ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID;',
        'ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;',
      ].join('\n'),
    },
  },
  {
    id: 'add-unique-constraint',
    severity: 'error',
    phases: bothPhases,
    summary: 'Adding a UNIQUE, PRIMARY KEY or EXCLUDE constraint builds its index while blocking writes.',
    hint: 'CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX)',
    example: {
      unsafe: 'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);',
      safe: [
        'CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);',
        'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;',
      ].join('\n'),
    },
  },
  {
    id: 'volatile-default',
    severity: 'error',
    phases: bothPhases,
    summary:
      'Adding a column whose default is volatile (random(), gen_random_uuid(), clock_timestamp(), a serial or identity column) rewrites the whole table under an ACCESS EXCLUSIVE lock.',
    hint: 'add the column without a default (or with a constant or stable one such as now()), SET DEFAULT for new rows, and backfill existing rows in batches',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN public_id uuid DEFAULT gen_random_uuid();',
      safe: [
        'ALTER TABLE users ADD COLUMN public_id uuid;',
        'ALTER TABLE users ALTER COLUMN public_id SET DEFAULT gen_random_uuid();',
      ].join('\n'),
    },
  },
  {
    id: 'add-stored-generated-column',
    severity: 'error',
    phases: bothPhases,
    summary: 'Adding a GENERATED ... STORED column rewrites the whole table under an ACCESS EXCLUSIVE lock.',
    hint: 'add a plain column, fill it with a trigger for new rows and a batched backfill for old ones',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN email_lower text GENERATED ALWAYS AS (lower(email)) STORED;',
      safe: 'ALTER TABLE users ADD COLUMN email_lower text;',
    },
  },
  {
    id: 'table-rewrite',
    severity: 'error',
    phases: bothPhases,
    summary:
      'VACUUM FULL, CLUSTER, SET TABLESPACE and SET LOGGED/UNLOGGED rewrite the table under an ACCESS EXCLUSIVE lock.',
    hint: 'do this in a maintenance window, or use an online tool such as pg_repack',
    example: { unsafe: 'VACUUM FULL orders;', safe: 'VACUUM (ANALYZE) orders;' },
  },
  {
    id: 'refresh-materialized-view',
    severity: 'error',
    phases: bothPhases,
    summary:
      'REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks every read of the view while it refreshes.',
    hint: 'give the view a unique index and use REFRESH MATERIALIZED VIEW CONCURRENTLY',
    example: {
      unsafe: 'REFRESH MATERIALIZED VIEW order_totals;',
      safe: 'REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals;',
    },
  },
  {
    id: 'bulk-update',
    severity: 'warning',
    phases: bothPhases,
    summary: 'UPDATE without WHERE locks every row of the table until the migration commits.',
    hint: 'use a backfill phase: it updates in small batches, each in its own short transaction, and resumes after an interruption',
    example: {
      unsafe: 'UPDATE users SET full_name = name;',
      safe: "UPDATE users SET role = 'member' WHERE id = 1;",
    },
  },
  {
    id: 'transaction-control',
    severity: 'error',
    phases: bothPhases,
    summary:
      'BEGIN, COMMIT, ROLLBACK and SAVEPOINT in a migration fight the runner, which runs each file in its own transaction.',
    hint: 'remove them: each file runs in one transaction, and statements that cannot (CREATE INDEX CONCURRENTLY …) are detected and run alone; for ORM output wrapped in BEGIN … COMMIT (Django’s sqlmigrate), lint with --strip-transaction and apply it without the wrapper',
    example: {
      unsafe: 'BEGIN;\nALTER TABLE users ADD COLUMN bio text;\nCOMMIT;',
      safe: 'ALTER TABLE users ADD COLUMN bio text;',
    },
  },
  {
    id: 'do-block',
    severity: 'warning',
    phases: bothPhases,
    summary:
      'The linter checks the statements inside a DO block like any others, but it cannot follow an EXECUTE of a computed string or a body it cannot read.',
    hint: 'write the statements as plain SQL (or EXECUTE string literals), or review the block by hand and allow it with a reason',
    example: {
      unsafe: "DO $$ BEGIN EXECUTE format('ALTER TABLE %I DROP COLUMN nickname', 'users'); END $$;",
      safe: [
        'DO $$ BEGIN',
        "  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN",
        "    CREATE TYPE mood AS ENUM ('ok', 'meh');",
        '  END IF;',
        'END $$;',
      ].join('\n'),
    },
  },
  {
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
  {
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
  {
    id: 'detach-partition',
    severity: 'error',
    phases: bothPhases,
    summary:
      'DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the partitioned table, blocking every query on it.',
    hint: 'use ALTER TABLE … DETACH PARTITION … CONCURRENTLY (PostgreSQL 14+; bluegreen runs it outside a transaction)',
    example: {
      unsafe: 'ALTER TABLE events DETACH PARTITION events_2023;',
      safe: 'ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;',
    },
  },
  {
    id: 'drop-database',
    severity: 'error',
    phases: bothPhases,
    summary: 'DROP DATABASE destroys everything in it; it has no place in a migration.',
    hint: 'drop databases by hand, outside the release',
    example: {
      unsafe: 'DROP DATABASE shop_staging;',
      safe: "COMMENT ON DATABASE shop_staging IS 'unused: to be dropped by hand';",
    },
  },
  {
    id: 'create-or-replace',
    severity: 'warning',
    phases: expandOnly,
    summary:
      'CREATE OR REPLACE FUNCTION, PROCEDURE, VIEW, TRIGGER or RULE changes logic the running version still calls, at once and for both versions.',
    hint: 'create the new logic under a new name (order_total_v2), switch the code to it, and drop the old one in a contract migration; or allow it with a reason when the old version works with the new logic',
    example: {
      unsafe: 'CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE deleted_at IS NULL;',
      safe: 'CREATE VIEW active_users_v2 AS SELECT id, email FROM users WHERE deleted_at IS NULL;',
    },
  },
  {
    id: 'json-column',
    severity: 'warning',
    phases: bothPhases,
    summary:
      'A json column has no equality operator: SELECT DISTINCT, UNION, GROUP BY and comparisons over it fail, and every read parses the text again.',
    hint: 'use jsonb: it compares, groups, indexes, and is parsed once when written',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN settings json;',
      safe: "ALTER TABLE users ADD COLUMN settings jsonb DEFAULT '{}';",
    },
  },
  {
    id: 'bad-allow-comment',
    severity: 'warning',
    phases: bothPhases,
    summary:
      'A bluegreen:allow comment must name a known rule and give a reason; otherwise it silences nothing.',
    hint: 'write `-- bluegreen:allow RULE_ID why this is safe here` on the line directly above the statement',
    example: {
      unsafe: '-- bluegreen:allow drop-colum\nALTER TABLE users ADD COLUMN bio text;',
      safe: '-- bluegreen:allow drop-column the old version never reads it (checked in v41)\nALTER TABLE users DROP COLUMN nickname;',
    },
  },
  {
    id: 'syntax-error',
    severity: 'error',
    phases: bothPhases,
    summary:
      'The file does not parse with PostgreSQL’s own grammar, so nothing in it can be checked (or applied).',
    hint: 'fix the SQL at the position given; the linter parses with PostgreSQL 17’s parser',
    example: {
      unsafe: 'ALTER TABLE users ADD COLUMN bio text DEFALT 1;',
      safe: "ALTER TABLE users ADD COLUMN bio text DEFAULT '';",
    },
  },
] as const satisfies readonly LintRule[]

export type RuleId = (typeof lintRules)[number]['id']

const byId = new Map<string, LintRule>(lintRules.map((rule) => [rule.id, rule]))

export function ruleById(id: RuleId): LintRule {
  return byId.get(id)!
}

export function isRuleId(id: string): id is RuleId {
  return byId.has(id)
}
