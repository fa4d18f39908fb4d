import type { z } from 'zod';

export type FieldErrors = Record<string, string>;

export type Validated<T> = { ok: true; data: T } | { ok: false; errors: FieldErrors };

/** Runs a schema and keeps the first message per field, for display next to the input. */
export function validate<S extends z.ZodType>(schema: S, input: unknown): Validated<z.infer<S>> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return { ok: true, data: result.data };
  const errors: FieldErrors = {};
  for (const issue of result.error.issues) {
    const field = String(issue.path[0] ?? 'form');
    errors[field] ??= issue.message;
  }
  return { ok: false, errors };
}

/** Parses a positive integer route or query parameter; undefined when malformed. */
export function parseId(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  return n > 0 ? n : undefined;
}

/** Thrown by a form's save step for a problem only found then (e.g. a wrong current password). */
export class FormError extends Error {
  constructor(readonly errors: FieldErrors) {
    super(Object.values(errors).join('; '));
  }
}
