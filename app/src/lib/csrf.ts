import { csrfSync } from 'csrf-sync';

// Synchroniser-token pattern: the token lives in the (PostgreSQL-backed) session, so a
// form rendered by one server validates on any other.
export const csrf = csrfSync({
  getTokenFromRequest: (req) => {
    const body: unknown = req.body;
    const token = body && typeof body === 'object' && '_csrf' in body ? body._csrf : undefined;
    return typeof token === 'string' ? token : undefined;
  },
});
