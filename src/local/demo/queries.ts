/**
 * The SQL the demo runs itself, beside the engine's: a profile written as 1.0.0 writes it and
 * read as 2.0.0 reads it, the profiles table's columns, and dropping the demo's database on a
 * server of the user's.
 */

/** A profile written as 1.0.0 writes it: name only. Returns what the sync made of it. */
export async function writeAsOldVersion(
  databaseUrl: string,
  name: string,
): Promise<{ id: string; name: string; first: string | null; last: string | null }> {
  const { withClient } = await import('../../db/client.js')
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ id: string; first_name: string | null; last_name: string | null }>(
      'INSERT INTO profiles (name) VALUES ($1) RETURNING id, first_name, last_name',
      [name],
    )
    return { id: rows[0].id, name, first: rows[0].first_name, last: rows[0].last_name }
  })
}

/** The profile as 2.0.0 reads it: first and last names. */
export async function readAsNewVersion(
  databaseUrl: string,
  id: string,
): Promise<{ first: string | null; last: string | null }> {
  const { withClient } = await import('../../db/client.js')
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ first_name: string | null; last_name: string | null }>(
      'SELECT first_name, last_name FROM profiles WHERE id = $1',
      [id],
    )
    return { first: rows[0]?.first_name ?? null, last: rows[0]?.last_name ?? null }
  })
}

export async function profileColumns(databaseUrl: string): Promise<string[]> {
  const { withClient } = await import('../../db/client.js')
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'profiles' ORDER BY ordinal_position`,
    )
    return rows.map((r) => r.column_name)
  })
}

export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const { withClient } = await import('../../db/client.js')
  await withClient(serverUrl, async (client) => {
    // FORCE (PostgreSQL 13+): a connection the app pool has not closed yet must not block it.
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  })
}
