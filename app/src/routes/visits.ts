import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { csvExport } from '../lib/csv.js';
import { queryString } from '../lib/listQuery.js';
import { getCompany } from '../models/companies.js';
import { getCustomer } from '../models/customers.js';
import { userOptions } from '../models/users.js';
import {
  createVisit,
  deleteVisit,
  exportVisits,
  getVisit,
  listVisits,
  markVisitDone,
  parseVisitQuery,
  updateVisit,
  visitOwner,
  visitSchema,
  type Visit,
} from '../models/visits.js';
import { allow, canForAll, ensureCan } from '../lib/policy.js';
import { parseId, type FieldErrors } from '../lib/validation.js';
import { addEditRoutes, currentUser, localPath, notFound, render, submitForm, type Data } from '../lib/web.js';

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
    const me = currentUser(res);
    const list = parseVisitQuery(req.query, me.id);
    const query = queryString({
      q: list.q,
      from: list.from,
      to: list.to,
      status: list.status,
      salesperson: list.salespersonId,
      company: list.companyId,
    });
    // The company filter is set from a company's page (a list of every company would
    // weigh more than the page itself); here it is only shown.
    const [page, salespeople, company] = await Promise.all([
      listVisits(db, list),
      userOptions(db),
      list.companyId ? getCompany(db, list.companyId) : undefined,
    ]);
    render(req, res, 'visits/list', { page, list, query, salespeople, company, mine: list.salespersonId === me.id });
  });

  router.get(
    '/export.csv',
    allow('export', 'visit'),
    csvExport<Visit>({
      filename: 'visits.csv',
      columns: ['id', ['date', 'visit_date'], ['customer', 'customer_name'], ['company', 'company_name'], ['salesperson', 'salesperson_name'], 'done', 'notes'],
      rows: (req, res) => exportVisits(db, parseVisitQuery(req.query, currentUser(res).id)),
    }),
  );

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

  // One click from a list: mark done, back to the same list.
  router.post('/:id/done', async (req, res) => {
    const id = parseId(req.params.id);
    if (!id || !(await visitOwner(db, id))) return notFound(req, res);
    await authorizeVisit('update')(id, res);
    await markVisitDone(db, id);
    res.redirect(303, localPath((req.body as Record<string, unknown> | undefined)?.back, '/visits'));
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
