import os from 'node:os';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type pg from 'pg';
import type { Config } from './config.js';
import { sessionUser } from './lib/auth.js';
import { createCsrf } from './lib/csrf.js';
import { pageErrors } from './lib/errors.js';
import './lib/locals.js';
import { parseMultipart } from './lib/photos.js';
import { sessionExpiry, type SessionMiddleware } from './lib/session.js';
import { notFound, requireUser } from './lib/web.js';
import { accountRouter } from './routes/account.js';
import { apiRouter } from './routes/api.js';
import { authRouter } from './routes/auth.js';
import { companiesRouter } from './routes/companies.js';
import { customersRouter } from './routes/customers.js';
import { healthHandler } from './routes/health.js';
import { homeRouter } from './routes/home.js';
import { tokensRouter } from './routes/tokens.js';
import { uploadsRouter } from './routes/uploads.js';
import { usersRouter } from './routes/users.js';
import { visitsRouter } from './routes/visits.js';

const publicDir = fileURLToPath(new URL('../public', import.meta.url));

export interface AppDeps {
  config: Config;
  pool: pg.Pool;
  session: SessionMiddleware;
  isShuttingDown: () => boolean;
}

/**
 * Middleware order matters: the cheap, cookie-less endpoints (health, static files,
 * API) come before the session, so they never read or create sessions.
 */
export function createApp({ config, pool, session, isShuttingDown }: AppDeps): Express {
  const app = express();
  const hostname = os.hostname();
  app.disable('x-powered-by');
  // Exactly the proxies in front (one balancer in every deployment), counted from this
  // server: trusting more, or every private address, would take the client's address
  // from entries the client wrote itself, and the per-address sign-in limit with it.
  app.set('trust proxy', config.trustProxyHops);

  app.use((_req, res, next) => {
    res.setHeader('X-Served-By', hostname);
    // Once draining, ask keep-alive clients to reconnect (to another server).
    if (isShuttingDown()) res.setHeader('Connection', 'close');
    next();
  });
  app.use(
    helmet({
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: config.cookieSecure ? [] : null } },
      strictTransportSecurity: config.cookieSecure,
    }),
  );

  app.get('/healthz', healthHandler(pool, config.uploadDir, isShuttingDown));
  app.use('/public', express.static(publicDir, { maxAge: '1h', index: false }));
  app.use('/api/v1', apiRouter(pool));

  // Who is asking comes first (session, expiry, a still-enabled user), then the CSRF
  // check, then sign-in; multipart bodies (photos, up to 5 MB in memory) are only read
  // after all of these passed. Url-encoded bodies are read before the CSRF check, which
  // needs their _csrf field; they are capped at 100 kB.
  const csrf = createCsrf(config.sessionSecret, config.cookieSecure);
  app.use(session.handler);
  app.use(sessionExpiry({ idleSeconds: config.sessionIdleSeconds, maxSeconds: config.sessionMaxSeconds }));
  app.use(sessionUser(pool, session.takeUser));
  app.use((req, res, next) => {
    res.locals.csrfToken = () => csrf.token(req, res);
    next();
  });
  app.use(express.urlencoded({ extended: false, limit: '100kb' }));
  app.use(csrf.protect);

  app.use(authRouter(pool, { csrf, secret: config.sessionSecret, secure: config.cookieSecure }));
  app.use(requireUser);
  app.use(parseMultipart);
  app.use(homeRouter(pool));
  app.use('/uploads', uploadsRouter(config.uploadDir));
  app.use('/companies', companiesRouter(pool));
  app.use('/customers', customersRouter(pool, config.uploadDir));
  app.use('/visits', visitsRouter(pool));
  app.use('/users', usersRouter(pool, config.uploadDir));
  app.use('/account', accountRouter(pool, config.uploadDir));
  app.use('/tokens', tokensRouter(pool));

  app.use(notFound);
  app.use(pageErrors);
  return app;
}
