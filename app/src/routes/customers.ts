import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { companyOptions } from '../models/companies.js';
import { createCustomer, customerSchema, getCustomer, listCustomers, updateCustomer } from '../models/customers.js';
import { visitsOfCustomer } from '../models/visits.js';
import { parseListQuery } from '../lib/pagination.js';
import { photoErrors, savePhoto } from '../lib/photos.js';
import { allow, ensureCan } from '../lib/policy.js';
import { parseId, type FieldErrors } from '../lib/validation.js';
import { addEditRoutes, notFound, render, submitForm, type Data } from '../lib/web.js';

export function customersRouter(db: pg.Pool, uploadDir: string): Router {
  const router = Router();
  router.use(allow('read', 'customer'));

  const showForm = async (req: Request, res: Response, values: Data, errors: FieldErrors, customerId?: number) => {
    render(req, res, 'customers/form', { values, errors, customerId, companies: await companyOptions(db) });
  };

  router.get('/', async (req, res) => {
    const list = parseListQuery(req.query);
    render(req, res, 'customers/list', { page: await listCustomers(db, list), q: list.q });
  });

  router.get('/new', allow('create', 'customer'), (req, res) => showForm(req, res, { company_id: req.query.company_id }, {}));

  router.post('/', allow('create', 'customer'), (req, res) =>
    submitForm(req, res, {
      schema: customerSchema,
      errors: photoErrors(req, res),
      showForm: (values, errors) => showForm(req, res, values, errors),
      save: async (data) => `/customers/${await createCustomer(db, data, await savePhoto(res, uploadDir))}`,
    }),
  );

  router.get('/:id', async (req, res) => {
    const customerId = parseId(req.params.id);
    const customer = customerId && (await getCustomer(db, customerId));
    if (!customer) return notFound(req, res);
    render(req, res, 'customers/show', { customer, visits: await visitsOfCustomer(db, customer.id) });
  });

  addEditRoutes(router, {
    schema: customerSchema,
    load: async (id) => getCustomer(db, id),
    authorize: async (_id, res) => ensureCan(res, 'update', 'customer'),
    showForm,
    preErrors: photoErrors,
    update: async (id, data, _req, res) => {
      await updateCustomer(db, id, data, await savePhoto(res, uploadDir));
      return `/customers/${id}`;
    },
  });

  return router;
}
