/**
 * bluegreen's own tables for schema changes, in schema `bluegreen` of the application database:
 * applied migrations, backfill progress, and the contract ledger. (The journal's tables —
 * releases, steps, audit — are created by the journal store.)
 *
 * The rules live in the schema where they can (after pgroll): an applied migration cannot change
 * its checksum, a recorded contract cannot change its files, a contract is applied or cancelled
 * but not both. Creation is versioned: each step runs once, in a transaction holding an advisory
 * lock, so concurrent callers (two CI jobs starting at once) are safe and a current schema costs
 * one query.
 */
import { withTransaction, type Client } from './client.js'

/** Advisory lock name serializing changes to schema `bluegreen` (pass to hashtextextended(name, 0)). */
export const STATE_SCHEMA_LOCK = 'bluegreen:state-schema'

const component = 'schema-changes'

/** Append-only: each entry upgrades the schema from version i to i+1. Never edit a shipped step. */
const steps: string[] = [
  `
  CREATE TABLE bluegreen.migrations (
    app text NOT NULL CHECK (app <> ''),
    phase text NOT NULL CHECK (phase IN ('expand', 'contract')),
    file text NOT NULL CHECK (file <> '' AND file !~ '/'),
    checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    release text NOT NULL,
    -- Statements already committed: a file that mixes CREATE INDEX CONCURRENTLY with other
    -- statements commits in several steps, and a rerun resumes after the last one. Only the
    -- committed statements (committed_checksum) are frozen; the rest may still be fixed.
    statements_done integer NOT NULL DEFAULT 0 CHECK (statements_done >= 0),
    committed_checksum text NOT NULL CHECK (committed_checksum ~ '^[0-9a-f]{64}$'),
    started_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz,
    duration_ms integer CHECK (duration_ms >= 0),
    PRIMARY KEY (app, phase, file),
    CHECK ((applied_at IS NULL) = (duration_ms IS NULL))
  );

  CREATE FUNCTION bluegreen.migrations_guard() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF OLD.applied_at IS NOT NULL THEN
      RAISE EXCEPTION 'migration %/% was applied at % and cannot change', OLD.phase, OLD.file, OLD.applied_at
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.app, NEW.phase, NEW.file) IS DISTINCT FROM (OLD.app, OLD.phase, OLD.file)
       OR NEW.statements_done < OLD.statements_done THEN
      RAISE EXCEPTION 'migration %/% is partly applied: it cannot be renamed or go backwards', OLD.phase, OLD.file
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER migrations_guard BEFORE UPDATE ON bluegreen.migrations
    FOR EACH ROW EXECUTE FUNCTION bluegreen.migrations_guard();

  CREATE TABLE bluegreen.backfills (
    name text PRIMARY KEY CHECK (name <> ''),
    table_name text NOT NULL,
    key_columns text[] NOT NULL CHECK (cardinality(key_columns) > 0),
    -- The last key of the last finished batch (as text, cast back to the key's types); NULL
    -- before the first batch. A restart continues after it instead of rescanning.
    last_key text[] CHECK (last_key IS NULL OR cardinality(last_key) = cardinality(key_columns)),
    rows_done bigint NOT NULL DEFAULT 0 CHECK (rows_done >= 0),
    batches integer NOT NULL DEFAULT 0 CHECK (batches >= 0),
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz CHECK (finished_at >= started_at)
  );

  CREATE TABLE bluegreen.contracts (
    app text NOT NULL CHECK (app <> ''),
    release text NOT NULL CHECK (release <> ''),
    version text NOT NULL CHECK (version <> ''),
    release_seq bigint NOT NULL CHECK (release_seq >= 0),
    dir text NOT NULL CHECK (dir <> ''),
    not_before timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz CHECK (applied_at >= recorded_at),
    cancelled_at timestamptz CHECK (cancelled_at >= recorded_at),
    PRIMARY KEY (app, release),
    UNIQUE (app, release_seq),
    CHECK (applied_at IS NULL OR cancelled_at IS NULL)
  );

  CREATE TABLE bluegreen.contract_files (
    app text NOT NULL,
    release text NOT NULL,
    position integer NOT NULL CHECK (position >= 0),
    file text NOT NULL CHECK (file <> '' AND file !~ '/'),
    checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (app, release, file),
    UNIQUE (app, release, position),
    FOREIGN KEY (app, release) REFERENCES bluegreen.contracts ON DELETE CASCADE
  );

  -- A recorded contract is what will run: its files never change, and once applied or
  -- cancelled the entry is final.
  CREATE FUNCTION bluegreen.contracts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF OLD.applied_at IS NOT NULL OR OLD.cancelled_at IS NOT NULL THEN
      RAISE EXCEPTION 'contract of release % is % and cannot change', OLD.release,
        CASE WHEN OLD.applied_at IS NOT NULL THEN 'applied' ELSE 'cancelled' END
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.app, NEW.release, NEW.version, NEW.release_seq, NEW.dir, NEW.not_before, NEW.recorded_at)
       IS DISTINCT FROM (OLD.app, OLD.release, OLD.version, OLD.release_seq, OLD.dir, OLD.not_before, OLD.recorded_at) THEN
      RAISE EXCEPTION 'contract of release % is recorded; only applied_at or cancelled_at may be set', OLD.release
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER contracts_guard BEFORE UPDATE ON bluegreen.contracts
    FOR EACH ROW EXECUTE FUNCTION bluegreen.contracts_guard();

  CREATE FUNCTION bluegreen.contract_files_guard() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'UPDATE' THEN
      RAISE EXCEPTION 'recorded contract files cannot change' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM bluegreen.contracts c WHERE c.app = NEW.app AND c.release = NEW.release
               AND (c.applied_at IS NOT NULL OR c.cancelled_at IS NOT NULL)) THEN
      RAISE EXCEPTION 'contract of release % is final; no files can be added', NEW.release
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER contract_files_guard BEFORE INSERT OR UPDATE ON bluegreen.contract_files
    FOR EACH ROW EXECUTE FUNCTION bluegreen.contract_files_guard();
  `,
  // Declared syncs (src/db/sync.ts): the triggers each release installed, until its contract
  // drops them; and what a release's contract must check before it drops anything.
  `
  CREATE TABLE bluegreen.syncs (
    app text NOT NULL CHECK (app <> ''),
    release text NOT NULL CHECK (release <> ''),
    version text NOT NULL CHECK (version <> ''),
    release_seq bigint NOT NULL CHECK (release_seq >= 0),
    table_name text NOT NULL CHECK (table_name <> ''),
    -- The trigger's name, which is also the function's (in the table's schema).
    object_name text NOT NULL CHECK (object_name <> '' AND octet_length(object_name) <= 63),
    function_name text NOT NULL,
    forward jsonb NOT NULL,
    backward jsonb NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now(),
    dropped_at timestamptz,
    PRIMARY KEY (app, release, table_name)
  );

  ALTER TABLE bluegreen.contracts
    -- json, not jsonb: the columns keep the order the plan gave them in.
    ADD COLUMN syncs json NOT NULL DEFAULT '[]' CHECK (json_typeof(syncs) = 'array'),
    ADD COLUMN backfills json NOT NULL DEFAULT '[]' CHECK (json_typeof(backfills) = 'array');
  `,
  // Contract reminders (\`contract --check\`): when contract.due and contract.overdue were sent,
  // so that each is sent once per contract.
  `
  ALTER TABLE bluegreen.contracts
    ADD COLUMN notified_due_at timestamptz,
    ADD COLUMN notified_overdue_at timestamptz;
  `,
]

/**
 * Creates schema `bluegreen` and the tables above, or upgrades them; idempotent and safe to call
 * concurrently. Call it outside a transaction (it runs its own).
 */
export async function ensureStateSchema(client: Client): Promise<void> {
  if ((await currentVersion(client)) >= steps.length) return
  await withTransaction(client, async () => {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [STATE_SCHEMA_LOCK])
    await client.query('CREATE SCHEMA IF NOT EXISTS bluegreen')
    await client.query(`
      CREATE TABLE IF NOT EXISTS bluegreen.state_schema (
        component text PRIMARY KEY,
        version integer NOT NULL CHECK (version >= 0),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`)
    // Read again under the lock: another caller may have upgraded while we waited.
    const version = await currentVersion(client)
    for (const step of steps.slice(version)) await client.query(step)
    await client.query(
      `INSERT INTO bluegreen.state_schema (component, version) VALUES ($1, $2)
       ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`,
      [component, Math.max(version, steps.length)],
    )
  })
}

/** Whether the tables exist at all (readers return "nothing yet" rather than create them). */
export async function stateSchemaExists(client: Client): Promise<boolean> {
  return (await currentVersion(client)) > 0
}

async function currentVersion(client: Client): Promise<number> {
  // to_regclass instead of catching "relation does not exist": an error would abort a caller's transaction.
  const { rows } = await client.query<{ exists: boolean }>(
    "SELECT to_regclass('bluegreen.state_schema') IS NOT NULL AS exists",
  )
  if (!rows[0]?.exists) return 0
  const result = await client.query<{ version: number }>(
    'SELECT version FROM bluegreen.state_schema WHERE component = $1',
    [component],
  )
  return result.rows[0]?.version ?? 0
}
