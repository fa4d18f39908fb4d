import connectPgSimple from 'connect-pg-simple';
import session from 'express-session';
import type { RequestHandler } from 'express';
import type pg from 'pg';

export const SESSION_COOKIE = 'crm.sid';

const PgStore = connectPgSimple(session);

export interface SessionMiddleware {
  handler: RequestHandler;
  /** Stops the store's expired-session pruning timer (at shutdown). */
  close: () => void;
}

/** Sessions live in PostgreSQL so that any server can continue any session. */
export function createSession(pool: pg.Pool, secret: string, secure: boolean): SessionMiddleware {
  // The table comes from a migration (not createTableIfMissing), so servers starting
  // together do not race to create it. Touch is off: sessions last a fixed working
  // day, which saves one UPDATE per page view.
  const store = new PgStore({ pool, tableName: 'session', disableTouch: true });
  const handler = session({
    store,
    name: SESSION_COOKIE,
    secret,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure, maxAge: 12 * 60 * 60 * 1000 },
  });
  return { handler, close: () => store.close() };
}
