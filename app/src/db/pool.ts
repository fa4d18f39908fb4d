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
