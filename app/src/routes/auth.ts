import { Router, type Request } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { clearFailures, isLockedOut, recordFailure } from '../models/loginThrottle.js';
import { authenticate } from '../models/users.js';
import { csrf } from '../lib/csrf.js';
import { SESSION_COOKIE } from '../lib/session.js';
import { validate } from '../lib/validation.js';
import { render } from '../lib/web.js';

const loginSchema = z.object({
  username: z.string({ error: 'Username is required' }).trim().toLowerCase().min(1, 'Username is required').max(100),
  password: z.string({ error: 'Password is required' }).min(1, 'Password is required').max(200),
});

/** express-session's callback methods as promises, so errors reach the error handler. */
function sessionCall(req: Request, method: 'regenerate' | 'save' | 'destroy'): Promise<void> {
  return new Promise((resolve, reject) => req.session[method]((err: unknown) => (err ? reject(err) : resolve())));
}

/** Only same-site relative paths are followed after sign-in (no open redirect). */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : '/customers';
}

export function authRouter(db: pg.Pool): Router {
  const router = Router();

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
    if (await isLockedOut(db, username)) {
      return fail(429, { form: 'Too many failed attempts. Wait 15 minutes and try again.' });
    }
    const user = await authenticate(db, username, password);
    if (!user) {
      await recordFailure(db, username);
      return fail(401, { form: 'Wrong username or password' });
    }
    await clearFailures(db, username);
    // A new session id at sign-in, so an id planted before sign-in is worthless.
    await sessionCall(req, 'regenerate');
    req.session.userId = user.id;
    // Issue the session's CSRF token now: if a page view created it later, two pages
    // loading in parallel (possibly on two servers) could each store a different one.
    csrf.generateToken(req, true);
    await sessionCall(req, 'save');
    res.redirect(303, next);
  });

  router.post('/logout', async (req, res) => {
    await sessionCall(req, 'destroy');
    res.clearCookie(SESSION_COOKIE);
    res.redirect(303, '/login');
  });

  return router;
}
