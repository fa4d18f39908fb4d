import { Router, type Request, type Response } from 'express';
import type pg from 'pg';
import { createToken, listTokens, revokeToken, tokenSchema } from '../models/tokens.js';
import { parseId, validate, type FieldErrors } from '../lib/validation.js';
import { currentUser, notFound, render } from '../lib/web.js';

/** The signed-in user's own API tokens. */
export function tokensRouter(db: pg.Pool): Router {
  const router = Router();

  const showPage = async (req: Request, res: Response, extra: { created?: string; errors?: FieldErrors } = {}) =>
    render(req, res, 'tokens/list', { tokens: await listTokens(db, currentUser(res).id), errors: {}, ...extra });

  router.get('/', (req, res) => showPage(req, res));

  // The new token is shown in the response to the POST itself, exactly once: it is
  // not stored anywhere it could be shown again.
  router.post('/', async (req, res) => {
    const result = validate(tokenSchema, req.body);
    if (!result.ok) {
      res.status(422);
      return showPage(req, res, { errors: result.errors });
    }
    const created = await createToken(db, currentUser(res).id, result.data.name);
    res.setHeader('Cache-Control', 'no-store');
    await showPage(req, res, { created });
  });

  // Another user's token is as absent as a token that does not exist.
  router.post('/:id/revoke', async (req, res) => {
    const tokenId = parseId(req.params.id);
    if (!tokenId || !(await revokeToken(db, currentUser(res).id, tokenId))) return notFound(req, res);
    res.redirect(303, '/tokens');
  });

  return router;
}
