import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { clearAttempts, PER_USERNAME, reserveAttempt, usernameKey } from '../models/loginThrottle.js';
import { checkPassword, passwordChangeSchema, setPassword, setUserPhoto } from '../models/users.js';
import { photoErrors, savePhoto } from '../lib/photos.js';
import { FormError, type FieldErrors } from '../lib/validation.js';
import { currentUser, render, submitForm } from '../lib/web.js';

/** The signed-in user's own account: password and profile photo. */
export function accountRouter(db: pg.Pool, uploadDir: string): Router {
  const router = Router();

  const showPage = (req: Request, res: Response, errors: FieldErrors = {}, saved = '') => {
    render(req, res, 'account', { errors, values: {}, saved });
    return Promise.resolve();
  };

  router.get('/', (req, res) => showPage(req, res, {}, typeof req.query.saved === 'string' ? req.query.saved : ''));

  // The current password is required, so a session left open on a shared computer
  // cannot be turned into a permanent takeover. Other sessions are signed out.
  router.post('/password', (req, res) =>
    submitForm(req, res, {
      schema: passwordChangeSchema,
      showForm: (_values, errors) => showPage(req, res, errors),
      save: async (data) => {
        const me = currentUser(res);
        // Counted like sign-ins, so a stolen session cannot guess the password quickly.
        const key = usernameKey(me.username);
        const reservation = await reserveAttempt(db, key, PER_USERNAME);
        if (!reservation.ok) throw new FormError({ current_password: `Too many attempts. Wait ${reservation.retryAfterSeconds} seconds.` });
        if (!(await checkPassword(db, me.id, data.current_password))) {
          throw new FormError({ current_password: 'The current password is wrong' });
        }
        await clearAttempts(db, key);
        await setPassword(db, me.id, data.password, req.sessionID);
        return '/account?saved=password';
      },
    }),
  );

  router.post('/photo', async (req, res) => {
    const errors = photoErrors(req, res);
    if (!res.locals.photo && !errors.photo) errors.photo = 'Choose a photo';
    if (errors.photo) {
      res.status(422);
      return showPage(req, res, errors);
    }
    const name = await savePhoto(res, uploadDir);
    if (name) await setUserPhoto(db, currentUser(res).id, name);
    res.redirect(303, '/account?saved=photo');
  });

  return router;
}
