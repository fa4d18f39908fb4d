import type { User } from '../models/users.js';

// Typed per-request state shared between middleware and handlers.
declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** The signed-in user (session or API token), set by the auth middleware. */
      user?: User;
      /** The CSRF token for this page's forms (set once the CSRF middleware ran). */
      csrfToken?: () => string;
      /** Why the submitted photo was refused, shown on the form. */
      uploadError?: string;
      /** The submitted photo, decoded and re-encoded, ready to store. */
      photo?: import('./uploads.js').CleanImage;
      /** The submitted CSV file (customer import). */
      csvFile?: Buffer;
    }
  }
}

declare module 'express-session' {
  interface SessionData {
    userId?: number;
    /** Sign-in time (ms since epoch), for the absolute limit. */
    startedAt?: number;
    /** Last request (ms since epoch, written at most once a minute), for the idle limit. */
    seenAt?: number;
  }
}

export {};
