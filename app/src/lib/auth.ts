import type { RequestHandler } from 'express';
import type pg from 'pg';
import { userForToken } from '../models/tokens.js';
import { getActiveUser, type User } from '../models/users.js';
import { sessionCall } from './session.js';

/**
 * Puts the session's user into res.locals.user. A session whose user has been
 * disabled or deleted is replaced by an empty one: the user is signed out at once.
 */
export function sessionUser(db: pg.Pool, takeUser: (sid: string) => User | undefined | 'unknown'): RequestHandler {
  return async (req, res, next) => {
    const userId = req.session.userId;
    // Read with the session (see UserSessionStore), unless another request took it.
    const loaded = takeUser(req.sessionID);
    if (!userId) return next();
    const user = loaded === 'unknown' || loaded?.id !== userId ? await getActiveUser(db, userId) : loaded;
    if (user) res.locals.user = user;
    else await sessionCall(req, 'regenerate');
    next();
  };
}

/** API authentication: `Authorization: Bearer <token>`; 401 JSON otherwise. */
export function bearerUser(db: pg.Pool): RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer ([A-Za-z0-9_-]{10,200})$/.exec(req.get('authorization') ?? '');
    const user = match?.[1] ? await userForToken(db, match[1]) : undefined;
    if (!user) {
      res.status(401).setHeader('WWW-Authenticate', 'Bearer').json({ error: 'a valid API token is required' });
      return;
    }
    res.locals.user = user;
    next();
  };
}
