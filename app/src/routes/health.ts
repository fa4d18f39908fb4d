import { randomBytes } from 'node:crypto';
import { unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RequestHandler } from 'express';
import type pg from 'pg';

const CHECK_TIMEOUT_MS = 1000;

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

async function check(name: string, work: () => Promise<unknown>): Promise<[string, string]> {
  try {
    await withTimeout(work(), name);
    return [name, 'ok'];
  } catch (err) {
    return [name, err instanceof Error ? err.message : String(err)];
  }
}

/** Creates and removes a probe file; the name is unique so servers sharing the folder never collide. */
async function probeUploadDir(uploadDir: string): Promise<void> {
  const probe = path.join(uploadDir, `.healthz-${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await writeFile(probe, 'ok', { flag: 'wx' });
  await unlink(probe);
}

/**
 * GET /healthz for the load balancer: 200 when the database answers and the upload
 * folder is writable, else 503 with the failing check. It is mounted before the session
 * middleware, so a probe every second creates no sessions.
 */
export function healthHandler(pool: pg.Pool, uploadDir: string, isShuttingDown: () => boolean): RequestHandler {
  return async (_req, res) => {
    const checks = Object.fromEntries(
      await Promise.all([
        check('database', () => pool.query('SELECT 1')),
        check('uploads', () => probeUploadDir(uploadDir)),
      ]),
    );
    // While draining, report unhealthy so the load balancer stops sending new requests.
    if (isShuttingDown()) checks.server = 'shutting down';
    const healthy = Object.values(checks).every((v) => v === 'ok');
    res.status(healthy ? 200 : 503).setHeader('Cache-Control', 'no-store').json({ status: healthy ? 'ok' : 'fail', checks });
  };
}
