import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { csvExport } from '../lib/csv.js';
import { parseArchivableQuery, queryString } from '../lib/listQuery.js';
import { allow, ensureCan } from '../lib/policy.js';
import { parseId, type FieldErrors } from '../lib/validation.js';
import { addArchiveRoutes, addEditRoutes, notFound, render, submitForm, type Data } from '../lib/web.js';
import { createCompany, companySchema, exportCompanies, getCompany, listCompanies, setCompanyArchived, updateCompany, type Company } from '../models/companies.js';
import { listCustomers } from '../models/customers.js';
import { listVisits } from '../models/visits.js';

export function companiesRouter(db: pg.Pool): Router {
  const router = Router();
  router.use(allow('read', 'company'));

  const showForm = (req: Request, res: Response, values: Data, errors: FieldErrors, companyId?: number) => {
    render(req, res, 'companies/form', { values, errors, companyId });
    return Promise.resolve();
  };

  router.get('/', async (req, res) => {
    const list = parseArchivableQuery(req.query);
    render(req, res, 'companies/list', { page: await listCompanies(db, list), list, query: queryString({ q: list.q, archived: list.archived }) });
  });

  router.get(
    '/export.csv',
    allow('export', 'company'),
    csvExport<Company>({
      filename: 'companies.csv',
      columns: ['id', 'name', 'website', 'address', ['customers', 'customer_count'], 'archived'],
      rows: (req) => exportCompanies(db, parseArchivableQuery(req.query)),
    }),
  );

  router.get('/new', allow('create', 'company'), (req, res) => showForm(req, res, {}, {}));

  router.post('/', allow('create', 'company'), (req, res) =>
    submitForm(req, res, {
      schema: companySchema,
      showForm: (values, errors) => showForm(req, res, values, errors),
      save: async (data) => `/companies/${await createCompany(db, data)}`,
    }),
  );

  // The company with its customers and their visits, each list paged on its own.
  router.get('/:id', async (req, res) => {
    const id = parseId(req.params.id);
    const company = id && (await getCompany(db, id));
    if (!id || !company) return notFound(req, res);
    const customerPage = parseId(req.query.cpage) ?? 1;
    const visitPage = parseId(req.query.vpage) ?? 1;
    const [customers, visits] = await Promise.all([
      listCustomers(db, { page: customerPage, q: '', archived: false, companyId: id }),
      listVisits(db, { page: visitPage, q: '', companyId: id }),
    ]);
    render(req, res, 'companies/show', { company, customers, visits });
  });

  addEditRoutes(router, {
    schema: companySchema,
    load: async (id) => getCompany(db, id),
    authorize: async (_id, res) => ensureCan(res, 'update', 'company'),
    showForm,
    update: async (id, data) => {
      await updateCompany(db, id, data);
      return `/companies/${id}`;
    },
  });

  addArchiveRoutes(router, {
    resource: 'company',
    load: (id) => getCompany(db, id),
    setArchived: (id, archived) => setCompanyArchived(db, id, archived),
    pageOf: (id) => `/companies/${id}`,
  });

  return router;
}
