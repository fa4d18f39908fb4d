import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { clearAttempts, usernameKey } from '../models/loginThrottle.js';
import {
  createUser,
  exportUsers,
  getUser,
  listUsers,
  passwordResetSchema,
  ROLE_LABELS,
  ROLES,
  setPassword,
  setUserDisabled,
  updateUser,
  userEditSchema,
  userSchema,
  type User,
} from '../models/users.js';
import { csvExport } from '../lib/csv.js';
import { parseListQuery } from '../lib/pagination.js';
import { photoErrors, savePhoto } from '../lib/photos.js';
import { allow } from '../lib/policy.js';
import { FormError, parseId, type FieldErrors } from '../lib/validation.js';
import { addEditRoutes, currentUser, notFound, render, submitForm, type Data } from '../lib/web.js';

const roleOptions = ROLES.map((id) => ({ id, name: ROLE_LABELS[id] }));

/** User administration, for administrators only. */
export function usersRouter(db: pg.Pool, uploadDir: string): Router {
  const router = Router();
  router.use(allow('update', 'user'));

  const showForm = (req: Request, res: Response, values: Data, errors: FieldErrors, userId?: number) => {
    // Never echo the password back into the page.
    render(req, res, 'users/form', { values: { ...values, password: '' }, errors, userId, roles: roleOptions });
    return Promise.resolve();
  };

  router.get('/', async (req, res) => {
    const list = parseListQuery(req.query);
    render(req, res, 'users/list', { page: await listUsers(db, list), q: list.q, roleLabels: ROLE_LABELS });
  });

  router.get(
    '/export.csv',
    csvExport<User>({
      filename: 'users.csv',
      columns: ['id', 'username', ['name', 'display_name'], 'role', 'disabled'],
      rows: (req) => exportUsers(db, parseListQuery(req.query)),
    }),
  );

  router.get('/new', (req, res) => showForm(req, res, { role: 'salesperson' }, {}));

  router.post('/', (req, res) =>
    submitForm(req, res, {
      schema: userSchema,
      errors: photoErrors(req, res),
      showForm: (values, errors) => showForm(req, res, values, errors),
      save: async (data) => {
        await createUser(db, data, await savePhoto(res, uploadDir));
        return '/users';
      },
    }),
  );

  addEditRoutes(router, {
    schema: userEditSchema,
    load: (id) => getUser(db, id),
    showForm,
    preErrors: photoErrors,
    update: async (id, data, _req, res) => {
      // Otherwise the last administrator could leave nobody able to manage users.
      if (id === currentUser(res).id && data.role !== 'admin') {
        throw new FormError({ role: 'You cannot remove your own administrator role' });
      }
      await updateUser(db, id, data, await savePhoto(res, uploadDir));
      return '/users';
    },
  });

  // Disabling takes effect at once: sessions and API tokens are deleted, and every
  // request re-checks the account (see lib/auth.ts).
  router.post('/:id/disable', async (req, res) => {
    const id = parseId(req.params.id);
    const user = id && (await getUser(db, id));
    if (!id || !user) return notFound(req, res);
    if (id === currentUser(res).id) {
      return render(req, res, 'error', { title: 'Not possible', message: 'You cannot disable your own account.' }, 409);
    }
    await setUserDisabled(db, id, true);
    res.redirect(303, '/users');
  });

  router.post('/:id/enable', async (req, res) => {
    const id = parseId(req.params.id);
    if (!id || !(await getUser(db, id))) return notFound(req, res);
    await setUserDisabled(db, id, false);
    res.redirect(303, '/users');
  });

  const showReset = async (req: Request, res: Response, id: number, errors: FieldErrors) => {
    const target = await getUser(db, id);
    if (!target) return notFound(req, res);
    render(req, res, 'users/password', { target, errors, values: {} });
  };

  router.get('/:id/password', async (req, res) => {
    const id = parseId(req.params.id);
    if (!id) return notFound(req, res);
    await showReset(req, res, id, {});
  });

  // An administrator's reset: no current password, and the user's sign-in limit is
  // cleared so they can use the new password at once.
  router.post('/:id/password', async (req, res) => {
    const id = parseId(req.params.id);
    const target = id && (await getUser(db, id));
    if (!id || !target) return notFound(req, res);
    await submitForm(req, res, {
      schema: passwordResetSchema,
      showForm: (_values, errors) => showReset(req, res, id, errors),
      save: async (data) => {
        await setPassword(db, id, data.password);
        await clearAttempts(db, usernameKey(target.username));
        return '/users';
      },
    });
  });

  return router;
}
