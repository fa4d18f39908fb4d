import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { readCookie, sameText, setCookie, sign } from '../lib/cookies.js';
import type { Csrf } from '../lib/csrf.js';
import { BusyError } from '../lib/cpuQueue.js';
import { SESSION_COOKIE, sessionCall, startSession } from '../lib/session.js';
import { validate } from '../lib/validation.js';
import { localPath, render } from '../lib/web.js';
import {
  addressKey,
  clearAttempts,
  PER_ADDRESS,
  PER_USERNAME,
  pruneAttempts,
  refundAttempt,
  reserveAttempt,
  usernameKey,
  type Reservation,
} from '../models/loginThrottle.js';
import { authenticate, type User } from '../models/users.js';

const loginSchema = z.object({
  username: z.string({ error: 'Username is required' }).trim().toLowerCase().min(1, 'Username is required').max(100),
  password: z.string({ error: 'Password is required' }).min(1, 'Password is required').max(200),
});

const DEVICE_COOKIE = 'crm.device';
const DEVICE_MAX_AGE_MS = 365 * 24 * 60 * 60 * 1000;

/** Only same-site relative paths are followed after sign-in (no open redirect). */
const safeNext = (value: unknown): string => localPath(value, '/');

export interface AuthOptions {
  csrf: Csrf;
  secret: string;
  secure: boolean;
}

export function authRouter(db: pg.Pool, { csrf, secret, secure }: AuthOptions): Router {
  const router = Router();

  // A browser where `username` signed in before carries a signed "known device" mark.
  // It exempts that browser from the per-username wait, so an attacker guessing a
  // user's password from elsewhere slows down only the guesses, not the user.
  const deviceMark = (username: string) => `${Buffer.from(username).toString('base64url')}.${sign(secret, 'device', username)}`;
  const isKnownDevice = (req: Request, username: string) => {
    const mark = readCookie(req, DEVICE_COOKIE);
    return Boolean(mark && sameText(mark, deviceMark(username)));
  };
  const rememberDevice = (res: Response, username: string) =>
    setCookie(res, DEVICE_COOKIE, deviceMark(username), { secure, maxAgeMs: DEVICE_MAX_AGE_MS });

  /**
   * Reserves the attempt on the source address, then (unless a known device) on the
   * username. An address refused on the username keeps its reservation: guessing at a
   * waiting account still counts against the guesser's address.
   */
  async function reserve(req: Request, username: string): Promise<Reservation & { keys: string[] }> {
    const keys = [addressKey(req.ip ?? 'unknown')];
    const byAddress = await reserveAttempt(db, keys[0]!, PER_ADDRESS);
    if (!byAddress.ok || isKnownDevice(req, username)) return { ...byAddress, keys };
    keys.push(usernameKey(username));
    return { ...(await reserveAttempt(db, keys[1]!, PER_USERNAME)), keys };
  }

  router.get('/login', (req, res) => {
    if (res.locals.user) return res.redirect(303, safeNext(req.query.next));
    render(req, res, 'login', { values: {}, errors: {}, next: safeNext(req.query.next) });
  });

  router.post('/login', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    const fail = (status: number, errors: Record<string, string>) =>
      render(req, res, 'login', { values: { username: body.username }, errors, next }, status);

    const result = validate(loginSchema, body);
    if (!result.ok) return fail(422, result.errors);
    const { username, password } = result.data;
    const reservation = await reserve(req, username);
    if (!reservation.ok) {
      res.setHeader('Retry-After', String(reservation.retryAfterSeconds));
      return fail(429, { form: `Too many failed attempts. Wait ${reservation.retryAfterSeconds} seconds and try again.` });
    }
    if (Math.random() < 0.01) void pruneAttempts(db).catch((err: unknown) => console.error('pruning sign-in limits:', err));

    let user: User | undefined;
    try {
      user = await authenticate(db, username, password);
    } catch (err) {
      if (!(err instanceof BusyError)) throw err;
      // Not the user's fault: give the reservation back.
      await Promise.all(reservation.keys.map((key) => refundAttempt(db, key)));
      res.setHeader('Retry-After', '2');
      return fail(503, { form: 'The server is busy. Please try again in a moment.' });
    }
    if (!user) return fail(401, { form: 'Wrong username or password' });

    await refundAttempt(db, reservation.keys[0]!);
    await clearAttempts(db, usernameKey(username));
    // A new session id at sign-in, so an id planted before sign-in is worthless.
    await sessionCall(req, 'regenerate');
    startSession(req, user.id);
    csrf.issueForSession(req);
    await sessionCall(req, 'save');
    rememberDevice(res, username);
    res.redirect(303, next);
  });

  router.post('/logout', async (req, res) => {
    await sessionCall(req, 'destroy');
    res.clearCookie(SESSION_COOKIE);
    res.redirect(303, '/login');
  });

  return router;
}
