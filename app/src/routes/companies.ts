import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { createCompany, companySchema, getCompany, listCompanies, updateCompany } from '../models/companies.js';
import { parseListQuery } from '../lib/pagination.js';
import { allow, ensureCan } from '../lib/policy.js';
import type { FieldErrors } from '../lib/validation.js';
import { addEditRoutes, render, submitForm, type Data } from '../lib/web.js';

export function companiesRouter(db: pg.Pool): Router {
  const router = Router();
  router.use(allow('read', 'company'));

  const showForm = (req: Request, res: Response, values: Data, errors: FieldErrors, companyId?: number) => {
    render(req, res, 'companies/form', { values, errors, companyId });
    return Promise.resolve();
  };

  router.get('/', async (req, res) => {
    const list = parseListQuery(req.query);
    render(req, res, 'companies/list', { page: await listCompanies(db, list), q: list.q });
  });

  router.get('/new', allow('create', 'company'), (req, res) => showForm(req, res, {}, {}));

  router.post('/', allow('create', 'company'), (req, res) =>
    submitForm(req, res, {
      schema: companySchema,
      showForm: (values, errors) => showForm(req, res, values, errors),
      save: async (data) => {
        await createCompany(db, data);
        return '/companies';
      },
    }),
  );

  addEditRoutes(router, {
    schema: companySchema,
    load: async (id) => getCompany(db, id),
    authorize: async (_id, res) => ensureCan(res, 'update', 'company'),
    showForm,
    update: async (id, data) => {
      await updateCompany(db, id, data);
      return '/companies';
    },
  });

  return router;
}
