import connectPgSimple from 'connect-pg-simple';
import session, { type SessionData } from 'express-session';
import type { Request, RequestHandler } from 'express';
import type pg from 'pg';
import { ACTIVE_USER_JOIN, USER_COLUMNS, type User } from '../models/users.js';
import { prepared } from '../db/pool.js';

export const SESSION_COOKIE = 'crm.sid';

const PgStore = connectPgSimple(session);

export interface SessionMiddleware {
  handler: RequestHandler;
  /** Stops the store's expired-session pruning timer (at shutdown). */
  close: () => void;
  /**
   * The active user read together with session `sid` by this request's session load
   * (undefined: disabled, deleted or none), or 'unknown' when the caller must ask itself.
   */
  takeUser: (sid: string) => User | undefined | 'unknown';
}

/** Beyond this many users read but not yet taken (requests that never asked), start over. */
const MAX_PENDING_USERS = 1_000;

/**
 * connect-pg-simple's store, reading the session's active user in the same query as
 * the session (every page checks that its user is still enabled; two round trips per
 * page cost more CPU than either query). The user waits, by session id, for the
 * sessionUser middleware of the same request. Two requests of one session at once may
 * take each other's user: both were read from the database at that moment. (connect-pg-simple
 * starts its pruning of expired rows at the first set or destroy instead of the first get.)
 */
class UserSessionStore extends PgStore {
  private readonly users = new Map<string, User | undefined>();

  constructor(private readonly pool: pg.Pool) {
    super({ pool, tableName: 'session', disableTouch: true });
  }

  override get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    const sql = `SELECT s.sess, ${USER_COLUMNS} FROM session s ${ACTIVE_USER_JOIN}
      WHERE s.sid = $1 AND s.expire >= now()`;
    this.pool.query<{ sess: SessionData } & Record<keyof User, unknown>>(prepared(sql, [sid])).then(
      ({ rows: [row] }) => {
        if (!row) return callback(null, null);
        if (this.users.size >= MAX_PENDING_USERS) this.users.clear();
        const { sess, ...user } = row;
        this.users.set(sid, user.id === null ? undefined : (user as User));
        callback(null, sess);
      },
      (err: unknown) => callback(err),
    );
  }

  takeUser(sid: string): User | undefined | 'unknown' {
    if (!this.users.has(sid)) return 'unknown';
    const user = this.users.get(sid);
    this.users.delete(sid);
    return user;
  }
}

export interface SessionTimes {
  idleSeconds: number;
  maxSeconds: number;
}

/** Sessions live in PostgreSQL so that any server can continue any session. */
export function createSession(pool: pg.Pool, secret: string, secure: boolean, times: SessionTimes): SessionMiddleware {
  // The table comes from a migration (not createTableIfMissing), so servers starting
  // together do not race to create it. Both limits are enforced by sessionExpiry from
  // times kept in the session, not by the row's expiry or the cookie's: express-session
  // resets the cookie's maxAge on every request (Session#touch, whatever `rolling` says),
  // so each save of a changed session (the last-seen time, see sessionExpiry) moves the
  // row's `expire` and the cookie's Expires to maxSeconds from then. The store's touch
  // is off, so an unchanged session costs no write.
  const store = new UserSessionStore(pool);
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
  return { handler, close: () => store.close(), takeUser: (sid) => store.takeUser(sid) };
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
      // adopt it rather than sign everyone out during a rolling upgrade, its limits
      // counted from now.
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
