import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { getCustomer } from '../models/customers.js';
import { userOptions } from '../models/users.js';
import { createVisit, getVisit, listVisits, updateVisit, visitSchema } from '../models/visits.js';
import { parseListQuery } from '../lib/pagination.js';
import { parseId, type FieldErrors } from '../lib/validation.js';
import { addEditRoutes, currentUser, notFound, render, submitForm, type Data } from '../lib/web.js';

const today = (): string => new Date().toISOString().slice(0, 10);

export function visitsRouter(db: pg.Pool): Router {
  const router = Router();

  /** Visits are recorded from a customer's page, so the form always knows its customer. */
  const showForm = async (req: Request, res: Response, values: Data, errors: FieldErrors, visitId?: number) => {
    const customer = await getCustomer(db, parseId(String(values.customer_id)) ?? 0);
    if (!customer) return notFound(req, res);
    render(req, res, 'visits/form', { values, errors, visitId, customer, salespeople: await userOptions(db) });
  };

  router.get('/', async (req, res) => {
    const list = parseListQuery(req.query);
    render(req, res, 'visits/list', { page: await listVisits(db, list), q: list.q });
  });

  router.get('/new', (req, res) =>
    showForm(req, res, { customer_id: req.query.customer_id, salesperson_id: currentUser(res).id, visit_date: today() }, {}),
  );

  router.post('/', (req, res) =>
    submitForm(req, res, {
      schema: visitSchema,
      showForm: (values, errors) => showForm(req, res, values, errors),
      save: async (data) => {
        await createVisit(db, data);
        return `/customers/${data.customer_id}`;
      },
    }),
  );

  addEditRoutes(router, {
    schema: visitSchema,
    load: async (id) => getVisit(db, id),
    showForm,
    update: async (id, data) => {
      await updateVisit(db, id, data);
      return `/customers/${data.customer_id}`;
    },
  });

  return router;
}
