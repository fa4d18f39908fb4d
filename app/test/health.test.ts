import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renameSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_PASSWORD, APP_DIR, AppProcess, tempDir } from './support/app.js';
import { Client } from './support/client.js';
import { queryOnce } from './support/db.js';

const STATE_DIR = process.env.CRM_STATE_DIR ?? '/tmp/crm-app-state';
// A cluster of its own, so stopping it cannot disturb the other tests.
const CLUSTER_DIR = path.join(STATE_DIR, 'health-pg');
const pgCluster = (...args: string[]): string =>
  execFileSync('bash', [path.join(APP_DIR, 'scripts', 'pg-cluster.sh'), ...args], { encoding: 'utf8' }).trim();

describe('/healthz', () => {
  let app: AppProcess | undefined;
  let uploadDir: string;
  let databaseUrl: string;

  // The suite's clusters run with synchronous_commit=off, so an immediate stop could
  // lose the last commits (the migrations, a session): flush them first.
  async function flushAndStop(): Promise<void> {
    await queryOnce(databaseUrl, 'CHECKPOINT');
    pgCluster('stop', CLUSTER_DIR, 'immediate');
  }

  before(() => {
    uploadDir = tempDir('uploads');
    databaseUrl = pgCluster('init', CLUSTER_DIR);
    return AppProcess.startHealthy(databaseUrl, uploadDir).then((a) => (app = a));
  });
  after(async () => {
    await app?.stop();
    pgCluster('stop', CLUSTER_DIR, 'immediate');
  });

  it('is 200 with every check ok, creates no session, and names the server', async () => {
    const res = await fetch(`${app!.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', checks: { database: 'ok', uploads: 'ok' } });
    assert.equal(res.headers.get('set-cookie'), null);
    assert.ok(res.headers.get('x-served-by'));
  });

  it('turns 503 within 2 s of the database stopping, and 200 once it is back', async () => {
    await flushAndStop();
    const failedAfter = await app!.waitHealthy(2000, 503);
    assert.ok(failedAfter <= 2000, `503 after ${failedAfter} ms`);
    const { body } = await app!.health();
    assert.notEqual(body.checks.database, 'ok');
    assert.equal(body.checks.uploads, 'ok');

    pgCluster('resume', CLUSTER_DIR);
    await app!.waitHealthy(15_000, 200);
  });

  it('shows an error page (503, and 503 JSON from the API) while the database is down; the sign-in page still renders', async () => {
    const client = new Client(app!.url);
    await client.login('admin', ADMIN_PASSWORD);
    const token = /id="new-token">(crm_[A-Za-z0-9_-]+)</.exec(await (await client.submit('/tokens', '/tokens', { name: 'probe' })).text())?.[1];
    await flushAndStop();
    try {
      const page = await client.get('/customers');
      assert.equal(page.status, 503);
      // The rendered page in the layout, not the plain-text fallback for a renderer that threw.
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      const html = await page.text();
      assert.match(html, /<title>Error 503 · CRM<\/title>/);
      assert.match(html, /<h1>Error 503<\/h1>\s*<p>Something went wrong on our side/);
      const api = await fetch(`${app!.url}/api/v1/customers`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(api.status, 503, 'the API too says "try again", not 500');
      assert.equal(api.headers.get('retry-after'), '5');
      const login = await new Client(app!.url).get('/login');
      assert.equal(login.status, 200, 'anonymous pages need no database');
    } finally {
      pgCluster('resume', CLUSTER_DIR);
    }
    await app!.waitHealthy(15_000, 200);
    assert.equal((await client.get('/customers')).status, 200, 'the session works again');
    assert.ok(app!.running);
  });

  it('is 503 naming the upload folder while that folder is unusable', async () => {
    // Root ignores permission bits, so make the folder unusable by moving it away.
    const moved = `${uploadDir}.away`;
    renameSync(uploadDir, moved);
    try {
      const res = await app!.health();
      assert.equal(res.status, 503);
      assert.equal(res.body.checks.database, 'ok');
      assert.match(res.body.checks.uploads ?? '', /ENOENT/);
    } finally {
      renameSync(moved, uploadDir);
    }
    assert.equal((await app!.health()).status, 200);
  });
});
