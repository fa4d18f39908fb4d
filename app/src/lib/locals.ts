import type { User } from '../models/users.js';

// Typed per-request state shared between middleware and handlers.
declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** The signed-in user (session or API token), set by the auth middleware. */
      user?: User;
      /** Why the multipart parser refused the photo, shown on the form. */
      uploadError?: string;
    }
  }
}

declare module 'express-session' {
  interface SessionData {
    userId?: number;
  }
}

export {};
