import { Router } from 'express';
import type pg from 'pg';
import { parseId } from '../lib/validation.js';
import { currentUser, render } from '../lib/web.js';
import { listVisits, pendingCount } from '../models/visits.js';

const today = (): string => new Date().toISOString().slice(0, 10);

/** The start page: my next visits (not done, from today on, soonest first) and how many are pending. */
export function homeRouter(db: pg.Pool): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const me = currentUser(res);
    const [next, pending] = await Promise.all([
      listVisits(db, { page: parseId(req.query.page) ?? 1, q: '', salespersonId: me.id, status: 'pending', from: today(), upcoming: true }),
      pendingCount(db, me.id),
    ]);
    render(req, res, 'home', { next, pending });
  });
  return router;
}
