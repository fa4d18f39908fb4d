import type pg from 'pg';

const MAX_FAILURES = 10;
const WINDOW = '15 minutes';

/** True when this username has failed too often recently (counted across all servers). */
export async function isLockedOut(db: pg.Pool, username: string): Promise<boolean> {
  const r = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM login_failures WHERE username = $1 AND failed_at > now() - $2::interval`,
    [username, WINDOW],
  );
  return (r.rows[0]?.n ?? 0) >= MAX_FAILURES;
}

export async function recordFailure(db: pg.Pool, username: string): Promise<void> {
  await db.query(`DELETE FROM login_failures WHERE username = $1 AND failed_at <= now() - $2::interval`, [username, WINDOW]);
  await db.query('INSERT INTO login_failures (username) VALUES ($1)', [username]);
}

export async function clearFailures(db: pg.Pool, username: string): Promise<void> {
  await db.query('DELETE FROM login_failures WHERE username = $1', [username]);
}
