import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { PG_MIGRATE_LOCK_ID } from 'node-pg-migrate';
import pg from 'pg';
import sharp from 'sharp';
import { ADMIN_PASSWORD, APP_DIR, AppProcess, appEnv, freePort, tempDir, waitFor } from './support/app.js';
import { Client, csrfToken, openPost } from './support/client.js';
import { createDatabase, queryOnce } from './support/db.js';
import { createCompany, createCustomer, photoUrl } from './support/fixtures.js';
import { solidPng } from './support/images.js';

describe('several servers behind the load balancer', () => {
  const apps: AppProcess[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.stop()));
  });

  it('continues a session on another server and serves a photo uploaded through one from the other', async () => {
    const databaseUrl = await createDatabase('cluster');
    const uploadDir = tempDir('uploads');
    const a = await AppProcess.startHealthy(databaseUrl, uploadDir);
    const b = await AppProcess.startHealthy(databaseUrl, uploadDir);
    apps.push(a, b);

    const onA = new Client(a.url);
    await onA.login('admin', ADMIN_PASSWORD);
    const onB = new Client(b.url);
    onB.cookie = onA.cookie;
    const page = await onB.get('/customers');
    assert.equal(page.status, 200, 'B accepts the session cookie issued by A');
    assert.equal(page.headers.get('x-served-by'), (await onA.get('/customers')).headers.get('x-served-by'));
    assert.match(await page.text(), /Administrator/);

    const photo = solidPng(64, 48, [200, 40, 40]);
    const companyId = await createCompany(onA, databaseUrl, 'Acme');
    const customerId = await createCustomer(onA, companyId, 'Ann Example', new Blob([new Uint8Array(photo)], { type: 'image/png' }));
    const url = await photoUrl(onB, customerId);
    const download = await onB.get(url);
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'image/png');
    const served = Buffer.from(await download.arrayBuffer());
    // The upload is re-encoded (metadata stripped), so compare with the stored file and the pixels.
    assert.deepEqual(served, readFileSync(path.join(uploadDir, url.slice('/uploads/'.length))), 'B serves the file A stored');
    const { width, height } = await sharp(served).metadata();
    assert.deepEqual([width, height], [64, 48], 'the same picture as uploaded');
    assert.deepEqual(readdirSync(uploadDir).filter((f) => f.startsWith('.tmp-')), [], 'no temp files left behind');
  });

  it('applies migrations exactly once when three servers start together on an empty database', async () => {
    const databaseUrl = await createDatabase('migrate');
    const uploadDir = tempDir('uploads');
    const ports = await Promise.all([freePort(), freePort(), freePort()]);

    // Hold the migration lock while the servers start, so all three reach it together
    // whatever their start-up timing, then let them go.
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [PG_MIGRATE_LOCK_ID]);
    const started = ports.map((port) => AppProcess.start(appEnv(databaseUrl, uploadDir, port)));
    apps.push(...started);
    try {
      await waitFor(async () => {
        assert.ok(started.every((app) => app.running), `a server exited:\n${started.map((a) => a.log).join('\n')}`);
        return started.every((app) => app.log.includes('another server is migrating'));
      });
    } finally {
      await holder.end();
    }
    await Promise.all(started.map((app) => app.waitHealthy()));

    const migrationFiles = readdirSync(path.join(APP_DIR, 'dist', 'migrations')).filter((f) => f.endsWith('.js'));
    const rows = await queryOnce<{ name: string }>(databaseUrl, 'SELECT name FROM pgmigrations');
    assert.equal(rows.length, migrationFiles.length, 'one row per migration file');
    assert.equal(new Set(rows.map((r) => r.name)).size, rows.length, 'no migration recorded twice');
    const admins = await queryOnce<{ n: number }>(databaseUrl, "SELECT count(*)::int AS n FROM users WHERE username = 'admin'");
    assert.equal(admins[0]?.n, 1);
    const applied = started.filter((app) => /migrations applied: \d/.test(app.log));
    assert.equal(applied.length, 1, 'exactly one server applied the migrations');
    for (const app of started) {
      assert.doesNotMatch(app.log, /error/i, 'no server logged an error');
      assert.equal((await app.health()).status, 200);
    }
  });

  it('on SIGTERM finishes the request in flight, then exits 0 within 10 s', async () => {
    const databaseUrl = await createDatabase('shutdown');
    const app = await AppProcess.startHealthy(databaseUrl, tempDir('uploads'));
    const client = new Client(app.url);
    await client.login('admin', ADMIN_PASSWORD);
    const body = `_csrf=${encodeURIComponent(csrfToken(await client.text('/companies/new')))}&name=Late+Ltd`;

    // A form post whose body is still arriving when the signal comes.
    const { req, status } = openPost(app.url, '/companies', {
      cookie: client.cookie,
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': body.length,
    });
    req.write(body.slice(0, 10));
    await sleep(300);
    const t0 = Date.now();
    const exitCode = app.stop();
    await sleep(500);
    assert.ok(app.running, 'the server waits for the unfinished request');
    req.end(body.slice(10));

    assert.equal(await status, 303, 'the in-flight form post completed');
    assert.equal(await exitCode, 0);
    assert.ok(Date.now() - t0 < 10_000, 'stopped within 10 s');
    const saved = await queryOnce(databaseUrl, "SELECT 1 FROM companies WHERE name = 'Late Ltd'");
    assert.equal(saved.length, 1);
  });
});
