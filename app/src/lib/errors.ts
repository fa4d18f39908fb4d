import type { ErrorRequestHandler } from 'express';
import { BusyError } from './cpuQueue.js';
import { ForbiddenError } from './policy.js';
import { render } from './web.js';

/**
 * The HTTP status for an error: 503 when the database is unreachable (clients and the
 * balancer may retry), else the status it carries (body-parser, csrf-sync, our own
 * errors), else 500.
 */
export function httpStatus(err: unknown): number {
  if (databaseUnreachable(err)) return 503;
  const status = err && typeof err === 'object' && 'status' in err ? Number(err.status) : NaN;
  return status >= 400 && status < 600 ? status : 500;
}

/** Errors meaning the database cannot be reached (connection refused, reset, timed out). */
function databaseUnreachable(err: unknown): boolean {
  const text = err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` : '';
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|57P0[123]|Connection terminated|timeout exceeded when trying to connect/.test(text);
}

function messageFor(err: unknown, status: number): string {
  if (err instanceof ForbiddenError || err instanceof BusyError) return err.message;
  if (status === 403) return 'This form has expired or was not sent from this site. Go back, reload the page and try again.';
  if (status >= 500) return 'Something went wrong on our side. Please try again in a moment.';
  return 'The request could not be processed.';
}

/**
 * Last-resort handler for pages: a readable page, details only in the server log. It
 * must not depend on the database: with PostgreSQL down the session cannot be read,
 * and this page is all the user sees (503, so the balancer and clients retry).
 */
export const pageErrors: ErrorRequestHandler = (err: unknown, req, res, next) => {
  if (res.headersSent) return next(err);
  const status = httpStatus(err);
  if (status >= 500) console.error(`error on ${req.method} ${req.originalUrl}:`, err);
  if (status === 503) res.setHeader('Retry-After', '5');
  try {
    render(req, res, 'error', { title: `Error ${status}`, message: messageFor(err, status) }, status);
  } catch (renderErr) {
    console.error('error page failed:', renderErr);
    res.status(status).type('text').send(messageFor(err, status));
  }
};
