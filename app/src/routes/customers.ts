import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { companyOptions } from '../models/companies.js';
import { createCustomer, customerSchema, getCustomer, listCustomers, updateCustomer } from '../models/customers.js';
import { visitsOfCustomer } from '../models/visits.js';
import { parseListQuery } from '../lib/pagination.js';
import { photoErrors, savePhoto } from '../lib/photos.js';
import { parseId, type FieldErrors } from '../lib/validation.js';
import { addEditRoutes, notFound, render, submitForm, type Data } from '../lib/web.js';

export function customersRouter(db: pg.Pool, uploadDir: string): Router {
  const router = Router();

  const showForm = async (req: Request, res: Response, values: Data, errors: FieldErrors, customerId?: number) => {
    render(req, res, 'customers/form', { values, errors, customerId, companies: await companyOptions(db) });
  };

  router.get('/', async (req, res) => {
    const list = parseListQuery(req.query);
    render(req, res, 'customers/list', { page: await listCustomers(db, list), q: list.q });
  });

  router.get('/new', (req, res) => showForm(req, res, { company_id: req.query.company_id }, {}));

  router.post('/', (req, res) =>
    submitForm(req, res, {
      schema: customerSchema,
      errors: photoErrors(req, res),
      showForm: (values, errors) => showForm(req, res, values, errors),
      save: async (data) => `/customers/${await createCustomer(db, data, await savePhoto(req, uploadDir))}`,
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
    showForm,
    preErrors: photoErrors,
    update: async (id, data, req) => {
      await updateCustomer(db, id, data, await savePhoto(req, uploadDir));
      return `/customers/${id}`;
    },
  });

  return router;
}
