import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { csvExport, parseCsv } from '../lib/csv.js';
import { parseArchivableQuery, queryString } from '../lib/listQuery.js';
import { photoErrors, savePhoto } from '../lib/photos.js';
import { allow, ensureCan } from '../lib/policy.js';
import { parseId, type FieldErrors } from '../lib/validation.js';
import { addArchiveRoutes, addEditRoutes, notFound, render, submitForm, type Data } from '../lib/web.js';
import { companyOptions } from '../models/companies.js';
import { importCustomers } from '../models/customerImport.js';
import {
  createCustomer,
  customerSchema,
  exportCustomers,
  getCustomer,
  listCustomers,
  parseCustomerQuery,
  setCustomerArchived,
  updateCustomer,
  type Customer,
} from '../models/customers.js';
import { listVisits } from '../models/visits.js';

export function customersRouter(db: pg.Pool, uploadDir: string): Router {
  const router = Router();
  router.use(allow('read', 'customer'));

  const showForm = async (req: Request, res: Response, values: Data, errors: FieldErrors, customerId?: number) => {
    const companies = await companyOptions(db, parseId(String(values.company_id ?? '')));
    render(req, res, 'customers/form', { values, errors, customerId, companies });
  };

  router.get('/', async (req, res) => {
    const list = parseCustomerQuery(req.query, parseArchivableQuery(req.query));
    const query = queryString({ q: list.q, archived: list.archived, company: list.companyId });
    const imported = parseId(req.query.imported);
    render(req, res, 'customers/list', { page: await listCustomers(db, list), list, query, imported });
  });

  router.get(
    '/export.csv',
    allow('export', 'customer'),
    csvExport<Customer>({
      filename: 'customers.csv',
      columns: ['id', 'name', ['company', 'company_name'], 'email', 'phone', 'address', 'archived'],
      rows: (req) => exportCustomers(db, parseCustomerQuery(req.query, parseArchivableQuery(req.query))),
    }),
  );

  router.get('/import', allow('import', 'customer'), (req, res) => render(req, res, 'customers/import', { report: undefined }));

  // All or nothing: every row is checked first; one bad row and nothing is saved,
  // and the page lists each bad row with what is wrong in it.
  router.post('/import', allow('import', 'customer'), async (req, res) => {
    const file = res.locals.csvFile;
    const parsed = file ? parseCsv(file) : { ok: false as const, error: 'Choose a CSV file' };
    const report = parsed.ok ? await importCustomers(db, parsed.records) : { imported: 0, fileError: parsed.error, rows: [] };
    if (report.imported > 0) return res.redirect(303, `/customers?imported=${report.imported}`);
    res.status(422);
    render(req, res, 'customers/import', { report });
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
    const visits = await listVisits(db, { page: parseId(req.query.page) ?? 1, q: '', customerId: customer.id });
    render(req, res, 'customers/show', { customer, visits });
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

  addArchiveRoutes(router, {
    resource: 'customer',
    load: (id) => getCustomer(db, id),
    setArchived: (id, archived) => setCustomerArchived(db, id, archived),
    pageOf: (id) => `/customers/${id}`,
  });

  return router;
}
