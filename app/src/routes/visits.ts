import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { getCustomer } from '../models/customers.js';
import { userOptions } from '../models/users.js';
import { createVisit, deleteVisit, getVisit, listVisits, updateVisit, visitOwner, visitSchema } from '../models/visits.js';
import { parseListQuery } from '../lib/pagination.js';
import { allow, canForAll, ensureCan } from '../lib/policy.js';
import { parseId, type FieldErrors } from '../lib/validation.js';
import { addEditRoutes, currentUser, notFound, render, submitForm, type Data } from '../lib/web.js';

const today = (): string => new Date().toISOString().slice(0, 10);

export function visitsRouter(db: pg.Pool): Router {
  const router = Router();
  router.use(allow('read', 'visit'));

  /** Visits are recorded from a customer's page, so the form always knows its customer. */
  const showForm = async (req: Request, res: Response, values: Data, errors: FieldErrors, visitId?: number) => {
    const customer = await getCustomer(db, parseId(String(values.customer_id)) ?? 0);
    if (!customer) return notFound(req, res);
    const me = currentUser(res);
    // Someone who may only record their own visits is offered only themself.
    const everyone = canForAll(me, visitId ? 'update' : 'create', 'visit');
    const salespeople = everyone ? await userOptions(db) : [{ id: me.id, name: me.display_name }];
    render(req, res, 'visits/form', { values, errors, visitId, customer, salespeople });
  };

  /** The visit's current salesperson must be one the user may act for. */
  const authorizeVisit = (action: 'update' | 'delete') => async (id: number, res: Response) => {
    const owner = await visitOwner(db, id);
    ensureCan(res, action, 'visit', owner === undefined ? [] : [owner]);
  };

  router.get('/', async (req, res) => {
    const list = parseListQuery(req.query);
    render(req, res, 'visits/list', { page: await listVisits(db, list), q: list.q });
  });

  router.get('/new', allow('create', 'visit'), (req, res) =>
    showForm(req, res, { customer_id: req.query.customer_id, salesperson_id: currentUser(res).id, visit_date: today() }, {}),
  );

  router.post('/', allow('create', 'visit'), (req, res) =>
    submitForm(req, res, {
      schema: visitSchema,
      showForm: (values, errors) => showForm(req, res, values, errors),
      save: async (data) => {
        ensureCan(res, 'create', 'visit', [data.salesperson_id]);
        await createVisit(db, data);
        return `/customers/${data.customer_id}`;
      },
    }),
  );

  addEditRoutes(router, {
    schema: visitSchema,
    load: async (id) => getVisit(db, id),
    authorize: authorizeVisit('update'),
    showForm,
    update: async (id, data, _req, res) => {
      // Reassigning is an edit of both: the new salesperson must be allowed too.
      ensureCan(res, 'update', 'visit', [data.salesperson_id]);
      await updateVisit(db, id, data);
      return `/customers/${data.customer_id}`;
    },
  });

  router.post('/:id/delete', async (req, res) => {
    const id = parseId(req.params.id);
    const visit = id && (await getVisit(db, id));
    if (!id || !visit) return notFound(req, res);
    await authorizeVisit('delete')(id, res);
    await deleteVisit(db, id);
    res.redirect(303, `/customers/${visit.customer_id}`);
  });

  return router;
}
