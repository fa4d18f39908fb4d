import connectPgSimple from 'connect-pg-simple';
import session from 'express-session';
import type { Request, RequestHandler } from 'express';
import type pg from 'pg';

export const SESSION_COOKIE = 'crm.sid';

const PgStore = connectPgSimple(session);

export interface SessionMiddleware {
  handler: RequestHandler;
  /** Stops the store's expired-session pruning timer (at shutdown). */
  close: () => void;
}

export interface SessionTimes {
  idleSeconds: number;
  maxSeconds: number;
}

/** Sessions live in PostgreSQL so that any server can continue any session. */
export function createSession(pool: pg.Pool, secret: string, secure: boolean, times: SessionTimes): SessionMiddleware {
  // The table comes from a migration (not createTableIfMissing), so servers starting
  // together do not race to create it. Touch is off: the row's expiry stays the
  // absolute limit; idle time is tracked in the session itself (see sessionExpiry).
  const store = new PgStore({ pool, tableName: 'session', disableTouch: true });
  const handler = session({
    store,
    name: SESSION_COOKIE,
    secret,
    resave: false,
    // Nothing is stored for anonymous visitors: a session row exists only once
    // someone has signed in (the sign-in form's CSRF token lives in a cookie).
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure, maxAge: times.maxSeconds * 1000 },
  });
  return { handler, close: () => store.close() };
}

/** express-session's callback methods as promises, so errors reach the error handler. */
export function sessionCall(req: Request, method: 'regenerate' | 'save' | 'destroy'): Promise<void> {
  return new Promise((resolve, reject) => req.session[method]((err: unknown) => (err ? reject(err) : resolve())));
}

/** Marks a fresh sign-in: the start of both the absolute and the idle limit. */
export function startSession(req: Request, userId: number): void {
  const now = Date.now();
  req.session.userId = userId;
  req.session.startedAt = now;
  req.session.seenAt = now;
}

/**
 * Signs out sessions idle for longer than `idleSeconds` or older than `maxSeconds`.
 * The last-seen time is written at most once a minute (or every quarter of the idle
 * time, if shorter), so ordinary page views do not each cost a database write.
 */
export function sessionExpiry(times: SessionTimes): RequestHandler {
  const touchEveryMs = Math.min(60_000, (times.idleSeconds * 1000) / 4);
  return async (req, _res, next) => {
    const s = req.session;
    if (!s?.userId) return next();
    const now = Date.now();
    if (s.seenAt === undefined) {
      // A session signed in on a server of the previous release (no times recorded):
      // adopt it rather than sign everyone out during a rolling upgrade. Its row still
      // expires at the absolute limit it was created with.
      s.startedAt = now;
      s.seenAt = now;
      return next();
    }
    const expired = now - (s.seenAt ?? 0) > times.idleSeconds * 1000 || now - (s.startedAt ?? 0) > times.maxSeconds * 1000;
    if (expired) {
      // A fresh, empty session: the old row is deleted, nothing is stored for the new one.
      await sessionCall(req, 'regenerate');
    } else if (now - (s.seenAt ?? 0) >= touchEveryMs) {
      s.seenAt = now;
    }
    next();
  };
}
