import express, { Router, type ErrorRequestHandler, type Request, type Response } from 'express';
import { httpStatus } from '../lib/errors.js';
import type pg from 'pg';
import type { z } from 'zod';
import { bearerUser } from '../lib/auth.js';
import { formErrorsFromDb } from '../lib/dbErrors.js';
import { parseListQuery, type ListQuery, type Page } from '../lib/pagination.js';
import { parseId, validate } from '../lib/validation.js';
import { createCustomer, customerSchema, getCustomer, listCustomers } from '../models/customers.js';
import { createVisit, getVisit, listVisits, visitSchema } from '../models/visits.js';

interface Resource<S extends z.ZodType> {
  list: (db: pg.Pool, list: ListQuery) => Promise<Page<unknown>>;
  get: (db: pg.Pool, id: number) => Promise<unknown>;
  schema: S;
  create: (db: pg.Pool, data: z.infer<S>) => Promise<number>;
}

/** GET list (paginated, ?q= search), GET one, POST create: the same shape for every resource. */
function resourceRouter<S extends z.ZodType>(db: pg.Pool, r: Resource<S>): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    res.json(await r.list(db, parseListQuery(req.query)));
  });
  router.get('/:id', async (req, res) => {
    const id = parseId(req.params.id);
    const item = id && (await r.get(db, id));
    if (!item) return void res.status(404).json({ error: 'not found' });
    res.json(item);
  });
  router.post('/', async (req: Request, res: Response) => {
    const result = validate(r.schema, req.body);
    if (!result.ok) return void res.status(422).json({ errors: result.errors });
    try {
      const id = await r.create(db, result.data);
      res.status(201).location(`${req.baseUrl}/${id}`).json(await r.get(db, id));
    } catch (err) {
      const errors = formErrorsFromDb(err);
      if (!errors) throw err;
      res.status(422).json({ errors });
    }
  });
  return router;
}

/** Errors as JSON: the client's own mistakes with their status, anything else as 500. */
const apiErrors: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
  const status = httpStatus(err);
  if (status >= 500) console.error('api error:', err);
  res.status(status).json({ error: status >= 500 ? 'internal error' : String((err as Error).message) });
};

/**
 * JSON API, authenticated by Bearer token only. It sits in front of the session and
 * CSRF middleware: it uses no cookies, so cross-site requests cannot ride on them.
 */
export function apiRouter(db: pg.Pool): Router {
  const router = Router();
  router.use(express.json({ limit: '100kb' }));
  router.use(bearerUser(db));
  router.use('/customers', resourceRouter(db, {
    list: listCustomers,
    get: getCustomer,
    schema: customerSchema,
    create: (pool, data) => createCustomer(pool, data, null),
  }));
  router.use('/visits', resourceRouter(db, { list: listVisits, get: getVisit, schema: visitSchema, create: createVisit }));
  router.use((_req, res) => void res.status(404).json({ error: 'not found' }));
  router.use(apiErrors);
  return router;
}
