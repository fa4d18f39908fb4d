import type { NextFunction, Request, Response, Router } from 'express';
import type { z } from 'zod';
import type { User } from '../models/users.js';
import { formErrorsFromDb } from './dbErrors.js';
import { FormError, parseId, validate, type FieldErrors } from './validation.js';
import { allow, can, type Action, type Resource } from './policy.js';
import { eta } from './views.js';

export type Data = Record<string, unknown>;

/**
 * Renders a template inside the layout, with the user and a CSRF token for its forms.
 * The token is empty when the CSRF middleware never ran (e.g. the error page while the
 * database, and so the session, is unreachable): such a page must still render.
 */
export function render(req: Request, res: Response, view: string, data: Data = {}, status?: number): void {
  const csrfToken = res.locals.csrfToken?.() ?? '';
  const user = res.locals.user;
  // Templates show only the actions the user may take (the routes enforce them anyway).
  const may = (action: Action, resource: Resource, owners: number[] = []) => Boolean(user && can(user, action, resource, owners));
  // The full path (a router's req.path is relative to where it is mounted), for the active menu entry.
  const html = eta.render(view, { ...data, user, csrfToken, path: req.baseUrl + req.path, may });
  if (status) res.status(status);
  res.type('html').send(html);
}

/** `value` if it is a same-site path (no open redirect via //host or /\\host), else `fallback`. */
export function localPath(value: unknown, fallback: string): string {
  return typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : fallback;
}

export function requireUser(req: Request, res: Response, next: NextFunction): void {
  if (res.locals.user) return next();
  res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
}

/** The signed-in user; only call behind requireUser. */
export function currentUser(res: Response): User {
  const user = res.locals.user;
  if (!user) throw new Error('currentUser called without a signed-in user');
  return user;
}

export function notFound(req: Request, res: Response): void {
  render(req, res, 'error', { title: 'Not found', message: 'There is nothing at this address.' }, 404);
}

export interface FormSubmission<S extends z.ZodType> {
  schema: S;
  /** Extra problems found before validation (e.g. a rejected photo). */
  errors?: FieldErrors;
  /** Re-displays the form with what the user typed and what is wrong with it. */
  showForm: (values: Data, errors: FieldErrors) => Promise<void>;
  /** Saves valid input and returns where to go next. */
  save: (data: z.infer<S>) => Promise<string>;
}

/** Validate, save and redirect, or show the form again with messages (422). */
export async function submitForm<S extends z.ZodType>(req: Request, res: Response, form: FormSubmission<S>): Promise<void> {
  const values: Data = { ...(req.body as Data | undefined) };
  const result = validate(form.schema, values);
  const errors = { ...(result.ok ? {} : result.errors), ...form.errors };
  if (!result.ok || Object.keys(errors).length > 0) {
    res.status(422);
    return form.showForm(values, errors);
  }
  try {
    res.redirect(303, await form.save(result.data));
  } catch (err) {
    const dbErrors = err instanceof FormError ? err.errors : formErrorsFromDb(err);
    if (!dbErrors) throw err;
    res.status(422);
    await form.showForm(values, dbErrors);
  }
}

export interface EditRoutes<S extends z.ZodType> {
  schema: S;
  /** Throws ForbiddenError unless the signed-in user may edit record `id` (runs first). */
  authorize?: (id: number, res: Response) => Promise<void>;
  /** The record's current values, or undefined when it does not exist. */
  load: (id: number) => Promise<object | undefined>;
  showForm: (req: Request, res: Response, values: Data, errors: FieldErrors, id: number) => Promise<void>;
  /** Problems found before validation (e.g. a rejected photo). */
  preErrors?: (req: Request, res: Response) => FieldErrors;
  /** Saves valid input for record `id` and returns where to go next. */
  update: (id: number, data: z.infer<S>, req: Request, res: Response) => Promise<string>;
}

/** GET /:id/edit and POST /:id, the same for every editable record. */
export function addEditRoutes<S extends z.ZodType>(router: Router, e: EditRoutes<S>): void {
  router.get('/:id/edit', async (req, res) => {
    const id = parseId(req.params.id);
    const record = id && (await e.load(id));
    if (!id || !record) return notFound(req, res);
    await e.authorize?.(id, res);
    await e.showForm(req, res, { ...record }, {}, id);
  });

  router.post('/:id', async (req, res) => {
    const id = parseId(req.params.id);
    if (!id || !(await e.load(id))) return notFound(req, res);
    await e.authorize?.(id, res);
    await submitForm(req, res, {
      schema: e.schema,
      errors: e.preErrors?.(req, res),
      showForm: (values, errors) => e.showForm(req, res, values, errors, id),
      save: (data) => e.update(id, data, req, res),
    });
  });
}

export interface ArchiveRoutes {
  resource: 'company' | 'customer';
  load: (id: number) => Promise<object | undefined>;
  setArchived: (id: number, archived: boolean) => Promise<void>;
  /** The record's page, shown again afterwards. */
  pageOf: (id: number) => string;
}

/** POST /:id/archive and /:id/restore (hide or show again; nothing is deleted). */
export function addArchiveRoutes(router: Router, a: ArchiveRoutes): void {
  for (const [action, archived] of [['archive', true], ['restore', false]] as const) {
    router.post(`/:id/${action}`, allow('archive', a.resource), async (req, res) => {
      const id = parseId(req.params.id);
      if (!id || !(await a.load(id))) return notFound(req, res);
      await a.setArchived(id, archived);
      res.redirect(303, a.pageOf(id));
    });
  }
}
