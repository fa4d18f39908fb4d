import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_PASSWORD, APP_DIR, AppProcess, appEnv, freePort, tempDir } from './support/app.js';
import { Client } from './support/client.js';
import { createDatabase, queryOnce } from './support/db.js';

const git = (...args: string[]): string => execFileSync('git', ['-C', APP_DIR, ...args], { encoding: 'utf8' }).trim();

/**
 * The newest migration of the release in production. Update it when a release is
 * deployed: the test then checks that release against every migration added since.
 */
const DEPLOYED_UP_TO = '1735689600000_initial-schema.ts';

/**
 * Builds the app as it was before the first migration after DEPLOYED_UP_TO was added:
 * the release that servers still run while the first upgraded server migrates the
 * shared database.
 */
function buildPreviousRelease(): string {
  const migrations = readdirSync(path.join(APP_DIR, 'src', 'migrations')).sort();
  const firstNew = migrations[migrations.indexOf(DEPLOYED_UP_TO) + 1];
  assert.ok(firstNew && migrations.includes(DEPLOYED_UP_TO), `a migration after ${DEPLOYED_UP_TO}`);
  const added = git('log', '--diff-filter=A', '--format=%H', '--reverse', '--', `src/migrations/${firstNew}`).split('\n')[0];
  assert.ok(added, `the commit that added ${firstNew}`);
  const dir = tempDir('previous-release');
  const archive = execFileSync('git', ['-C', APP_DIR, 'archive', `${added}^`, '--', 'src', 'views', 'public', 'package.json', 'tsconfig.json']);
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  // Its dependencies are a subset of today's; tsc compiles it the same way as build_app.
  symlinkSync(path.join(APP_DIR, 'node_modules'), path.join(dir, 'node_modules'));
  execFileSync(path.join(APP_DIR, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: dir });
  mkdirSync(path.join(dir, 'uploads'));
  return path.join(dir, 'dist', 'server.js');
}

describe('rolling upgrade: the previous release against the migrated schema', () => {
  let previous: string;
  before(function () {
    this.timeout(120_000);
    previous = buildPreviousRelease();
  });

  it('old servers keep working while and after a new server migrates; their data reads correctly in the new release', async () => {
    const databaseUrl = await createDatabase('rolling');
    const uploadDir = tempDir('uploads');
    const old = AppProcess.start(appEnv(databaseUrl, uploadDir, await freePort()), previous);
    await old.waitHealthy();
    const onOld = new Client(old.url);
    await onOld.login('admin', ADMIN_PASSWORD);
    assert.equal((await onOld.submit('/companies/new', '/companies', { name: 'Before Co' })).status, 303);

    // The first server of the new release starts and applies the expand migration.
    const next = await AppProcess.startHealthy(databaseUrl, uploadDir);
    assert.match(next.log, /migrations applied: \d/);

    // The old server, still running, does its everyday work against the new schema.
    const [co] = await queryOnce<{ id: number }>(databaseUrl, "SELECT id FROM companies WHERE name = 'Before Co'");
    assert.equal((await onOld.submit('/customers/new', '/customers', { name: 'Old Customer', company_id: String(co!.id) })).status, 303);
    const [cu] = await queryOnce<{ id: number }>(databaseUrl, "SELECT id FROM customers WHERE name = 'Old Customer'");
    const [me] = await queryOnce<{ id: number }>(databaseUrl, "SELECT id FROM users WHERE username = 'admin'");
    const visit = { customer_id: String(cu!.id), salesperson_id: String(me!.id), visit_date: '2025-07-01', notes: 'from the old release' };
    assert.equal((await onOld.submit(`/visits/new?customer_id=${cu!.id}`, '/visits', visit)).status, 303);
    for (const [username, isAdmin] of [['oldadmin', 'on'], ['oldsales', '']] as const) {
      const fields: Record<string, string> = { username, display_name: username, password: `${username}-password` };
      if (isAdmin) fields.is_admin = isAdmin;
      assert.equal((await onOld.submit('/users/new', '/users', fields)).status, 303, `old release creates ${username}`);
    }
    const fresh = new Client(old.url);
    await fresh.login('oldsales', 'oldsales-password');
    assert.match(await onOld.text('/visits'), /from the old release/);

    // A session signed in on the old server goes on on the new one (no forced sign-out).
    const carriedOver = new Client(next.url);
    carriedOver.cookie = onOld.cookie;
    assert.equal((await carriedOver.get('/customers')).status, 200, 'the old session works on the new server');

    // The new release reads all of it; the old admin flag became the admin role.
    const onNew = new Client(next.url);
    await onNew.login('oldadmin', 'oldadmin-password');
    assert.equal((await onNew.get('/users')).status, 200, 'an admin created by the old release is an admin');
    assert.match(await onNew.text(`/customers/${cu!.id}`), /from the old release/);
    const sales = new Client(next.url);
    await sales.login('oldsales', 'oldsales-password');
    assert.equal((await sales.get('/users')).status, 403, 'a user created by the old release is a salesperson');

    // A restarted (or rolled-back) old server starts on the migrated database.
    assert.equal(await old.stop(), 0);
    const restarted = AppProcess.start(appEnv(databaseUrl, uploadDir, await freePort()), previous);
    await restarted.waitHealthy();
    await new Client(restarted.url).login('admin', ADMIN_PASSWORD);
    await restarted.stop();
    await next.stop();
  });
});
