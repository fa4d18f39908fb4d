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
/**
 * Per username, from the browsers where that user signed in before (a valid device mark):
 * as much as one address gets. Only someone holding a mark can use this allowance, so it
 * bounds guessing with a stolen mark without anyone else being able to exhaust it.
 */
export const PER_KNOWN_DEVICE: ThrottleRule = PER_ADDRESS;
const WINDOW = '15 minutes';

/** A reserved attempt: its key and the wait it set, which only its refund may take back. */
export interface Slot {
  key: string;
  blockedUntil: string;
}

export type Reservation = { ok: true; slot: Slot } | { ok: false; retryAfterSeconds: number };

export const addressKey = (ip: string): string => `ip:${ip}`;
export const usernameKey = (username: string): string => `user:${username}`;
export const knownDeviceKey = (username: string): string => `device:${username}`;

/**
 * Counts one attempt on `key`, or refuses it while the key's wait has not passed.
 * Times are clock_timestamp(), not now(): concurrent upserts on one key queue on its
 * row lock, and now() (the statement's start) of one that started first but got the
 * lock second would be earlier than the wait the first one just set, refusing it.
 */
export async function reserveAttempt(db: pg.Pool, key: string, rule: ThrottleRule): Promise<Reservation> {
  const r = await db.query<{ blocked_until: string | null; retry_after: number }>(
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
       RETURNING blocked_until::text
     )
     SELECT (SELECT blocked_until FROM reserved) AS blocked_until,
            coalesce((SELECT ceil(extract(epoch FROM blocked_until - clock_timestamp()))::int
                      FROM login_throttle WHERE key = $1), 1) AS retry_after`,
    [key, WINDOW, rule.free, rule.maxDelaySeconds],
  );
  const row = r.rows[0];
  if (row?.blocked_until) return { ok: true, slot: { key, blockedUntil: row.blocked_until } };
  return { ok: false, retryAfterSeconds: Math.max(1, row?.retry_after ?? 1) };
}

/**
 * The attempt was not a failure after all (a successful sign-in, a busy server): one
 * failure less, and the wait it set is lifted. (The key's previous wait had passed, or
 * the reservation would have been refused.) A wait set by a later attempt stays.
 */
export async function refundAttempt(db: pg.Pool, slot: Slot): Promise<void> {
  await db.query(
    `UPDATE login_throttle SET failures = greatest(failures - 1, 0),
       blocked_until = CASE WHEN blocked_until = $2::timestamptz THEN least(blocked_until, clock_timestamp()) ELSE blocked_until END
     WHERE key = $1`,
    [slot.key, slot.blockedUntil],
  );
}

/** Forgets a key's failures (the user signed in, or an admin reset the password). */
export async function clearAttempts(db: pg.Pool, key: string): Promise<void> {
  await db.query('DELETE FROM login_throttle WHERE key = $1', [key]);
}

/** Drops keys whose window ended long ago, so random usernames cannot grow the table forever. */
export async function pruneAttempts(db: pg.Pool): Promise<void> {
  await db.query(`DELETE FROM login_throttle WHERE window_start < now() - 2 * $1::interval AND blocked_until < now()`, [WINDOW]);
}
