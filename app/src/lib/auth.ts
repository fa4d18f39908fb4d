import type { RequestHandler } from 'express';
import type pg from 'pg';
import { userForToken } from '../models/tokens.js';
import { getUser } from '../models/users.js';

/** Puts the session's user (if any) into res.locals.user. */
export function sessionUser(db: pg.Pool): RequestHandler {
  return async (req, res, next) => {
    const userId = req.session.userId;
    if (userId) res.locals.user = await getUser(db, userId);
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
