import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { createUser, listUsers, userSchema } from '../models/users.js';
import { parseListQuery } from '../lib/pagination.js';
import { photoErrors, savePhoto } from '../lib/photos.js';
import type { FieldErrors } from '../lib/validation.js';
import { render, requireAdmin, submitForm, type Data } from '../lib/web.js';

/** User administration; every route is for administrators only. */
export function usersRouter(db: pg.Pool, uploadDir: string): Router {
  const router = Router();
  router.use(requireAdmin);

  const showForm = (req: Request, res: Response, values: Data, errors: FieldErrors) => {
    // Never echo the password back into the page.
    render(req, res, 'users/form', { values: { ...values, password: '' }, errors });
    return Promise.resolve();
  };

  router.get('/', async (req, res) => {
    const list = parseListQuery(req.query);
    render(req, res, 'users/list', { page: await listUsers(db, list), q: list.q });
  });

  router.get('/new', (req, res) => showForm(req, res, {}, {}));

  router.post('/', (req, res) =>
    submitForm(req, res, {
      schema: userSchema,
      errors: photoErrors(req, res),
      showForm: (values, errors) => showForm(req, res, values, errors),
      save: async (data) => {
        await createUser(db, data, await savePhoto(req, uploadDir));
        return '/users';
      },
    }),
  );

  return router;
}
