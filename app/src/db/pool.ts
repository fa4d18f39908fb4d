import pg from 'pg';

// DATE columns (visit dates) stay 'YYYY-MM-DD' strings: converting them to a JS Date
// at local midnight would shift the day in some time zones.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

/** One pool per server, shared by the session store, the pages and the API. */
export function createPool(databaseUrl: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 10,
    // Fail fast when the database is unreachable instead of queueing requests.
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30000,
  });
  // An idle client whose server went away emits 'error'; without a listener the
  // process would crash. The next query simply opens a new connection.
  pool.on('error', (err) => console.error(`database: idle client error: ${err.message}`));
  return pool;
}

/** Runs `work` on one connection inside BEGIN/COMMIT; any error rolls it all back. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
}

/** Names of prepared statements, by their text (a server prepares each text once per connection). */
const statementNames = new Map<string, string>();

/**
 * A query sent as a named prepared statement: PostgreSQL plans it a few times, then
 * keeps a generic plan for the connection. Only for texts whose best plan does not
 * depend on the values (a search pattern's does).
 */
export function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (!name) statementNames.set(text, (name = `crm_${statementNames.size + 1}`));
  return { name, text, values };
}
