import { csrfSync } from 'csrf-sync';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { randomId, readCookie, sameText, setCookie, sign } from './cookies.js';

const PRE_SESSION_COOKIE = 'crm.pre';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The token a form sent: the `_csrf` field of a url-encoded body, or for multipart
 * forms (whose body is only parsed after this check, see app.ts) the `_csrf` query
 * parameter of the form's action. Referrer-Policy no-referrer keeps it out of Referer.
 */
function tokenFromRequest(req: Request): string | undefined {
  const body: unknown = req.body;
  const fromBody = body && typeof body === 'object' && '_csrf' in body ? body._csrf : undefined;
  if (typeof fromBody === 'string') return fromBody;
  const fromQuery = req.is('multipart/form-data') ? req.query._csrf : undefined;
  return typeof fromQuery === 'string' ? fromQuery : undefined;
}

export interface Csrf {
  /** The token for the forms of this page (creates the pre-session cookie if needed). */
  token(req: Request, res: Response): string;
  /** Refuses state-changing requests without the right token (403). */
  protect: RequestHandler;
  /** Issues the session's token at sign-in. */
  issueForSession(req: Request): void;
}

/**
 * Signed-in users: synchroniser token in the (PostgreSQL-backed) session, so a form
 * rendered by one server validates on any other. Anonymous visitors (the sign-in form)
 * get no session at all (issue 10: a row per GET /login); their token is the HMAC of a
 * random cookie (signed double submit), which a cross-site page can neither read nor set.
 */
export function createCsrf(secret: string, secure: boolean): Csrf {
  const sync = csrfSync({ getTokenFromRequest: tokenFromRequest });
  const signedIn = (req: Request, res: Response) => Boolean(res.locals.user && req.session);
  const preToken = (nonce: string) => sign(secret, 'csrf', nonce);

  const token = (req: Request, res: Response): string => {
    if (signedIn(req, res)) return sync.generateToken(req);
    let nonce = readCookie(req, PRE_SESSION_COOKIE);
    if (!nonce || !/^[A-Za-z0-9_-]{24}$/.test(nonce)) {
      nonce = randomId();
      setCookie(res, PRE_SESSION_COOKIE, nonce, { secure });
    }
    return preToken(nonce);
  };

  const protect: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (SAFE_METHODS.has(req.method)) return next();
    if (signedIn(req, res)) return next(sync.isRequestValid(req) ? undefined : sync.invalidCsrfTokenError);
    const nonce = readCookie(req, PRE_SESSION_COOKIE);
    const sent = tokenFromRequest(req);
    const valid = Boolean(nonce && sent && sameText(sent, preToken(nonce)));
    next(valid ? undefined : sync.invalidCsrfTokenError);
  };

  // A new token at sign-in: if a page view created it later, two pages loading in
  // parallel (possibly on two servers) could each store a different one.
  const issueForSession = (req: Request) => void sync.generateToken(req, true);

  return { token, protect, issueForSession };
}
