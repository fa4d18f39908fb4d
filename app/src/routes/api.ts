import express, { Router, type ErrorRequestHandler, type Request, type Response } from 'express';
import type pg from 'pg';
import type { z } from 'zod';
import { bearerUser } from '../lib/auth.js';
import { formErrorsFromDb } from '../lib/dbErrors.js';
import { httpStatus } from '../lib/errors.js';
import { parseArchivableQuery, type RawQuery } from '../lib/listQuery.js';
import type { Page } from '../lib/pagination.js';
import { allow, ensureCan, type Resource } from '../lib/policy.js';
import { parseId, validate } from '../lib/validation.js';
import { currentUser } from '../lib/web.js';
import { createCustomer, customerSchema, getCustomer, listCustomers, parseCustomerQuery, updateCustomer } from '../models/customers.js';
import type { User } from '../models/users.js';
import { createVisit, deleteVisit, getVisit, listVisits, parseVisitQuery, updateVisit, visitOwner, visitSchema } from '../models/visits.js';

interface ApiResource<S extends z.ZodType> {
  resource: Resource;
  /** One page of the list, filtered by the query string as on the list page. */
  list: (db: pg.Pool, query: RawQuery, user: User) => Promise<Page<unknown>>;
  get: (db: pg.Pool, id: number) => Promise<unknown>;
  schema: S;
  create: (db: pg.Pool, data: z.infer<S>) => Promise<number>;
  update: (db: pg.Pool, id: number, data: z.infer<S>) => Promise<void>;
  delete?: (db: pg.Pool, id: number) => Promise<void>;
  /** Salesperson ids a record or submitted data involves, for 'own' permissions. */
  ownersOf?: { record: (db: pg.Pool, id: number) => Promise<number | undefined>; data: (data: z.infer<S>) => number };
}

/** GET list and one, POST create, PUT update, DELETE: the same shape and checks for every resource. */
function resourceRouter<S extends z.ZodType>(db: pg.Pool, r: ApiResource<S>): Router {
  const router = Router();
  const recordOwners = async (id: number) => {
    const owner = await r.ownersOf?.record(db, id);
    return owner === undefined ? [] : [owner];
  };
  const dataOwners = (data: z.infer<S>) => (r.ownersOf ? [r.ownersOf.data(data)] : []);
  const invalid = (res: Response, err: unknown) => {
    const errors = formErrorsFromDb(err);
    if (!errors) throw err;
    res.status(422).json({ errors });
  };

  router.get('/', allow('read', r.resource), async (req, res) => {
    res.json(await r.list(db, req.query, currentUser(res)));
  });
  router.get('/:id', allow('read', r.resource), async (req, res) => {
    const id = parseId(req.params.id);
    const item = id && (await r.get(db, id));
    if (!item) return void res.status(404).json({ error: 'not found' });
    res.json(item);
  });
  router.post('/', allow('create', r.resource), async (req: Request, res: Response) => {
    const result = validate(r.schema, req.body);
    if (!result.ok) return void res.status(422).json({ errors: result.errors });
    ensureCan(res, 'create', r.resource, dataOwners(result.data));
    try {
      const id = await r.create(db, result.data);
      res.status(201).location(`${req.baseUrl}/${id}`).json(await r.get(db, id));
    } catch (err) {
      invalid(res, err);
    }
  });
  router.put('/:id', allow('update', r.resource), async (req: Request, res: Response) => {
    const id = parseId(req.params.id);
    if (!id || !(await r.get(db, id))) return void res.status(404).json({ error: 'not found' });
    ensureCan(res, 'update', r.resource, await recordOwners(id));
    const result = validate(r.schema, req.body);
    if (!result.ok) return void res.status(422).json({ errors: result.errors });
    ensureCan(res, 'update', r.resource, dataOwners(result.data));
    try {
      await r.update(db, id, result.data);
      res.json(await r.get(db, id));
    } catch (err) {
      invalid(res, err);
    }
  });
  router.delete('/:id', allow('delete', r.resource), async (req: Request, res: Response) => {
    const id = parseId(req.params.id);
    if (!r.delete || !id || !(await r.get(db, id))) return void res.status(404).json({ error: 'not found' });
    ensureCan(res, 'delete', r.resource, await recordOwners(id));
    await r.delete(db, id);
    res.status(204).end();
  });
  return router;
}

/** Errors as JSON: the client's own mistakes with their status, anything else as 500. */
const apiErrors: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
  const status = httpStatus(err);
  if (status >= 500) console.error('api error:', err);
  if (status === 503) res.setHeader('Retry-After', '5');
  const message = status === 503 ? 'temporarily unavailable, try again' : status >= 500 ? 'internal error' : String((err as Error).message);
  res.status(status).json({ error: message });
};

/**
 * JSON API, authenticated by Bearer token only. It sits in front of the session and
 * CSRF middleware: it uses no cookies, so cross-site requests cannot ride on them.
 * Permissions are those of the token's user, from the same table as the pages.
 */
export function apiRouter(db: pg.Pool): Router {
  const router = Router();
  router.use(express.json({ limit: '100kb' }));
  router.use(bearerUser(db));
  router.use(
    '/customers',
    resourceRouter(db, {
      resource: 'customer',
      list: (pool, query) => listCustomers(pool, parseCustomerQuery(query, parseArchivableQuery(query))),
      get: getCustomer,
      schema: customerSchema,
      create: (pool, data) => createCustomer(pool, data, null),
      update: (pool, id, data) => updateCustomer(pool, id, data, null),
    }),
  );
  router.use(
    '/visits',
    resourceRouter(db, {
      resource: 'visit',
      list: (pool, query, user) => listVisits(pool, parseVisitQuery(query, user.id)),
      get: getVisit,
      schema: visitSchema,
      create: createVisit,
      update: updateVisit,
      delete: deleteVisit,
      ownersOf: { record: visitOwner, data: (v) => v.salesperson_id },
    }),
  );
  router.use((_req, res) => void res.status(404).json({ error: 'not found' }));
  router.use(apiErrors);
  return router;
}
