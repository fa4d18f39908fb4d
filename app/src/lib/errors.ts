import type { ErrorRequestHandler } from 'express';
import { render } from './web.js';

/** The HTTP status an error carries (body-parser, csrf-sync, http-errors), else 500. */
export function httpStatus(err: unknown): number {
  const status = err && typeof err === 'object' && 'status' in err ? Number(err.status) : NaN;
  return status >= 400 && status < 600 ? status : 500;
}

/** Last-resort handler for pages: a readable page, details only in the server log. */
export const pageErrors: ErrorRequestHandler = (err: unknown, req, res, next) => {
  if (res.headersSent) return next(err);
  const status = httpStatus(err);
  if (status >= 500) console.error(`error on ${req.method} ${req.originalUrl}:`, err);
  const message =
    status === 403
      ? 'This form has expired or was not sent from this site. Go back, reload the page and try again.'
      : status >= 500
        ? 'Something went wrong on our side. Please try again.'
        : 'The request could not be processed.';
  render(req, res, 'error', { title: `Error ${status}`, message }, status);
};
