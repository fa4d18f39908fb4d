import type { FieldErrors } from './validation.js';

// Constraint violations that are the user's mistake, mapped to a message on the form.
const UNIQUE: Record<string, FieldErrors> = {
  companies_name_key: { name: 'A company with this name already exists' },
  users_username_key: { username: 'This username is already taken' },
};

/** Translates a unique or foreign-key violation into form errors; undefined for anything else. */
export function formErrorsFromDb(err: unknown): FieldErrors | undefined {
  if (!err || typeof err !== 'object' || !('code' in err)) return undefined;
  const constraint = 'constraint' in err && typeof err.constraint === 'string' ? err.constraint : '';
  if (err.code === '23505') return UNIQUE[constraint];
  if (err.code === '23503') return { form: 'A selected record no longer exists; reload the page and try again' };
  return undefined;
}
