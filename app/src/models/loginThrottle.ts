import type pg from 'pg';

/**
 * Sign-in limits, counted in PostgreSQL so they hold across all servers.
 *
 * Each attempt first *reserves* a slot on its keys: one atomic upsert counts it as a
 * failure and sets the earliest time the key's next attempt may be checked. Only then
 * is the password checked; a success refunds the reservation. Because the count goes
 * up before the (slow) password check, parallel guesses cannot slip past the limit.
 *
 * Past `free` failures in the window, each further one doubles the wait (1 s, 2 s,
 * 4 s, ...) up to `maxDelaySeconds`. Attempts made during the wait are refused with
 * 429 without a password check and without counting, so an attacker cannot push the
 * wait beyond the cap: a user is slowed down, never locked out for long.
 */
export interface ThrottleRule {
  free: number;
  maxDelaySeconds: number;
}

/** Per source address: generous (offices share one address), but caps guessing at ~12/min. */
export const PER_ADDRESS: ThrottleRule = { free: 20, maxDelaySeconds: 300 };
/** Per username, from any address: 5 free, then at most one check every 30 s. */
export const PER_USERNAME: ThrottleRule = { free: 5, maxDelaySeconds: 30 };
const WINDOW = '15 minutes';

export type Reservation = { ok: true } | { ok: false; retryAfterSeconds: number };

export const addressKey = (ip: string): string => `ip:${ip}`;
export const usernameKey = (username: string): string => `user:${username}`;

/**
 * Counts one attempt on `key`, or refuses it while the key's wait has not passed.
 * Times are clock_timestamp(), not now(): concurrent upserts on one key queue on its
 * row lock, and now() (the statement's start) of one that started first but got the
 * lock second would be earlier than the wait the first one just set, refusing it.
 */
export async function reserveAttempt(db: pg.Pool, key: string, rule: ThrottleRule): Promise<Reservation> {
  const r = await db.query<{ reserved: boolean; retry_after: number }>(
    `WITH reserved AS (
       INSERT INTO login_throttle AS t (key, failures, window_start, blocked_until)
       VALUES ($1, 1, clock_timestamp(), clock_timestamp())
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN t.window_start < clock_timestamp() - $2::interval THEN 1 ELSE t.failures + 1 END,
         window_start = CASE WHEN t.window_start < clock_timestamp() - $2::interval THEN clock_timestamp() ELSE t.window_start END,
         blocked_until = clock_timestamp() + make_interval(secs =>
           CASE WHEN t.window_start < clock_timestamp() - $2::interval OR t.failures + 1 <= $3 THEN 0
                ELSE least(power(2, t.failures - $3), $4) END)
       WHERE t.blocked_until <= clock_timestamp() OR t.window_start < clock_timestamp() - $2::interval
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM reserved) AS reserved,
            coalesce((SELECT ceil(extract(epoch FROM blocked_until - clock_timestamp()))::int
                      FROM login_throttle WHERE key = $1), 1) AS retry_after`,
    [key, WINDOW, rule.free, rule.maxDelaySeconds],
  );
  const row = r.rows[0];
  if (row?.reserved) return { ok: true };
  return { ok: false, retryAfterSeconds: Math.max(1, row?.retry_after ?? 1) };
}

/** A successful sign-in: the attempt was not a failure after all. */
export async function refundAttempt(db: pg.Pool, key: string): Promise<void> {
  await db.query('UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = $1', [key]);
}

/** Forgets a key's failures (the user signed in, or an admin reset the password). */
export async function clearAttempts(db: pg.Pool, key: string): Promise<void> {
  await db.query('DELETE FROM login_throttle WHERE key = $1', [key]);
}

/** Drops keys whose window ended long ago, so random usernames cannot grow the table forever. */
export async function pruneAttempts(db: pg.Pool): Promise<void> {
  await db.query(`DELETE FROM login_throttle WHERE window_start < now() - 2 * $1::interval AND blocked_until < now()`, [WINDOW]);
}
