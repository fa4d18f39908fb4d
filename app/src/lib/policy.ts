import type { NextFunction, Request, Response } from 'express';
import type { Role, User } from '../models/users.js';

/**
 * Who may do what: the one table consulted by the pages and the JSON API alike.
 *
 * - admin: manages users, and may do everything a manager may.
 * - manager: all sales data: companies, customers, every visit; archive and restore.
 * - salesperson: reads and exports everything; creates and edits customers (contact
 *   details, photo: they meet them) but does not archive or bulk-import them; creates,
 *   edits, marks done and deletes *their own* visits only, and cannot assign a visit to
 *   someone else. Companies are read-only for them.
 * Everyone manages their own password, photo and API tokens.
 */
export type Resource = 'company' | 'customer' | 'visit' | 'user';
export type Action = 'read' | 'create' | 'update' | 'delete' | 'archive' | 'export' | 'import';

/** `true`: allowed; `'own'`: allowed on records (and assignments) of the user themself. */
type Grant = true | 'own';
type Rules = Record<Resource, Partial<Record<Action, Grant>>>;

const ALL: Partial<Record<Action, Grant>> = { read: true, create: true, update: true, delete: true, archive: true, export: true, import: true };

const MANAGER: Rules = {
  company: ALL,
  customer: ALL,
  visit: ALL,
  user: {},
};

const RULES: Record<Role, Rules> = {
  admin: { ...MANAGER, user: ALL },
  manager: MANAGER,
  salesperson: {
    company: { read: true, export: true },
    customer: { read: true, create: true, update: true, export: true },
    visit: { read: true, create: 'own', update: 'own', delete: 'own', export: true },
    user: {},
  },
};

/**
 * Whether `user` may do `action` on `resource`. For 'own' grants, `ownerIds` are the
 * salesperson ids involved (the record's current one and, on create or update, the
 * submitted one): all must be the user's.
 */
export function can(user: User, action: Action, resource: Resource, ownerIds: number[] = []): boolean {
  const grant = RULES[user.role][resource][action];
  if (grant === true) return true;
  if (grant === 'own') return ownerIds.length > 0 && ownerIds.every((id) => id === user.id);
  return false;
}

/** Whether `user` may do `action` on every record, not only their own. */
export function canForAll(user: User, action: Action, resource: Resource): boolean {
  return RULES[user.role][resource][action] === true;
}

/** A refusal; pages render it as a 403 page, the API as 403 JSON. */
export class ForbiddenError extends Error {
  readonly status = 403;
  constructor() {
    super('You are not allowed to do this.');
  }
}

/** Throws ForbiddenError unless allowed (call from handlers that loaded the record). */
export function ensureCan(res: Response, action: Action, resource: Resource, ownerIds: number[] = []): void {
  const user = res.locals.user;
  if (!user || !can(user, action, resource, ownerIds)) throw new ForbiddenError();
}

/**
 * Route guard: refuses users who may never do `action` on `resource`. Grants on own
 * records pass here; the handler then checks the record with ensureCan.
 */
export function allow(action: Action, resource: Resource) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    const user = res.locals.user;
    if (!user || !RULES[user.role][resource][action]) throw new ForbiddenError();
    next();
  };
}
