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
  knownDeviceKey,
  PER_ADDRESS,
  PER_KNOWN_DEVICE,
  PER_USERNAME,
  pruneAttempts,
  refundAttempt,
  reserveAttempt,
  usernameKey,
  type Slot,
  type ThrottleRule,
} from '../models/loginThrottle.js';
import { authenticate, deviceStamp, type User } from '../models/users.js';

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

  // A browser where `username` signed in before carries a signed "known device" mark,
  // bound to the user's current password hash: a new password (changed or reset) makes
  // every earlier mark worthless. A known device is counted on its own key instead of
  // the address and the username, so neither an attacker guessing the user's password
  // from elsewhere nor one failing from behind the same address (an office's NAT) makes
  // the user wait.
  const deviceMark = (username: string, stamp: string) =>
    `${Buffer.from(username).toString('base64url')}.${sign(secret, 'device', `${username}\0${stamp}`)}`;
  const isKnownDevice = async (req: Request, username: string) => {
    const mark = readCookie(req, DEVICE_COOKIE);
    if (!mark) return false;
    const stamp = await deviceStamp(db, username);
    return Boolean(stamp && sameText(mark, deviceMark(username, stamp)));
  };
  const rememberDevice = async (res: Response, username: string) => {
    const stamp = await deviceStamp(db, username);
    if (stamp) setCookie(res, DEVICE_COOKIE, deviceMark(username, stamp), { secure, maxAgeMs: DEVICE_MAX_AGE_MS });
  };

  /**
   * Reserves the attempt on each of its keys in turn: a known device's own, or the
   * source address and then the username. An address refused on the username keeps its
   * reservation: guessing at a waiting account still counts against the guesser's address.
   */
  async function reserve(req: Request, username: string): Promise<{ ok: true; slots: Slot[] } | { ok: false; retryAfterSeconds: number }> {
    const keys: [string, ThrottleRule][] = (await isKnownDevice(req, username))
      ? [[knownDeviceKey(username), PER_KNOWN_DEVICE]]
      : [
          [addressKey(req.ip ?? 'unknown'), PER_ADDRESS],
          [usernameKey(username), PER_USERNAME],
        ];
    const slots: Slot[] = [];
    for (const [key, rule] of keys) {
      const reservation = await reserveAttempt(db, key, rule);
      if (!reservation.ok) return reservation;
      slots.push(reservation.slot);
    }
    return { ok: true, slots };
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
      // Not the user's fault: give the reservations back, waits included.
      await Promise.all(reservation.slots.map((slot) => refundAttempt(db, slot)));
      res.setHeader('Retry-After', '2');
      return fail(503, { form: 'The server is busy. Please try again in a moment.' });
    }
    if (!user) return fail(401, { form: 'Wrong username or password' });

    // This attempt was no failure; the user's own counts start over (an address's, which
    // an office may share, do not).
    await Promise.all(reservation.slots.map((slot) => refundAttempt(db, slot)));
    await Promise.all([usernameKey(username), knownDeviceKey(username)].map((key) => clearAttempts(db, key)));
    // A new session id at sign-in, so an id planted before sign-in is worthless.
    await sessionCall(req, 'regenerate');
    startSession(req, user.id);
    csrf.issueForSession(req);
    await sessionCall(req, 'save');
    await rememberDevice(res, username);
    res.redirect(303, next);
  });

  router.post('/logout', async (req, res) => {
    await sessionCall(req, 'destroy');
    res.clearCookie(SESSION_COOKIE);
    res.redirect(303, '/login');
  });

  return router;
}
