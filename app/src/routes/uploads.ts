import { Router } from 'express';
import { UPLOAD_NAME } from '../lib/uploads.js';
import { notFound } from '../lib/web.js';

/** Serves stored photos to signed-in users; only exact content-hash names are looked up. */
export function uploadsRouter(uploadDir: string): Router {
  const router = Router();
  router.get('/:name', (req, res) => {
    const name = req.params.name;
    if (!UPLOAD_NAME.test(name)) return notFound(req, res);
    // Names are content hashes, so a URL's bytes never change; but photos are for
    // signed-in users only, so no shared cache (proxy, CDN) may keep a copy.
    res.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
    res.sendFile(name, { root: uploadDir, dotfiles: 'deny', cacheControl: false }, (err) => {
      if (err && !res.headersSent) notFound(req, res);
    });
  });
  return router;
}
