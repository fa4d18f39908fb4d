import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { runner } from 'node-pg-migrate';
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
    // A customer and a visit from before the upgrade (the search columns' backfill).
    const [early] = await queryOnce<{ id: number }>(databaseUrl, "SELECT id FROM companies WHERE name = 'Before Co'");
    assert.equal((await onOld.submit('/customers/new', '/customers', { name: 'Early Bird', company_id: String(early!.id) })).status, 303);
    const [eb] = await queryOnce<{ id: number; admin: number }>(databaseUrl, "SELECT id, (SELECT id FROM users WHERE username = 'admin') AS admin FROM customers WHERE name = 'Early Bird'");
    const earlyVisit = { customer_id: String(eb!.id), salesperson_id: String(eb!.admin), visit_date: '2025-06-01', notes: 'before the upgrade' };
    assert.equal((await onOld.submit(`/visits/new?customer_id=${eb!.id}`, '/visits', earlyVisit)).status, 303);

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
    // Searches find what the old release wrote before the upgrade (backfilled) and
    // after it (the triggers fill the search columns for servers that know nothing of them).
    assert.match(await onNew.text('/visits?q=early%20bird'), /before the upgrade/);
    assert.match(await onNew.text('/visits?q=old%20customer'), /from the old release/);
    assert.match(await onNew.text('/customers?q=early%20bird'), /Early Bird/);
    assert.match(await onNew.text('/customers?q=old%20customer'), /Old Customer/);
    assert.match(await onNew.text('/customers?q=before%20co'), /Early Bird/);
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

describe('index migrations: built CONCURRENTLY, redone after an interrupted build', () => {
  const LIST_INDEXES = '1767398400000_list-indexes';

  it('a server finishes the list indexes over an invalid leftover of the same name, and drops the ones they replace', async () => {
    const databaseUrl = await createDatabase('indexes');
    const dir = path.join(APP_DIR, 'dist', 'migrations');
    const files = readdirSync(dir).filter((f) => f.endsWith('.js')).sort();
    const before = files.findIndex((f) => f.startsWith(LIST_INDEXES));
    assert.ok(before > 0, `${LIST_INDEXES} is compiled into dist/migrations`);
    // The schema as the previous release left it: every migration before this one.
    await runner({ databaseUrl, dir, direction: 'up', count: before, migrationsTable: 'pgmigrations', log: () => undefined });
    await queryOnce(
      databaseUrl,
      `WITH u AS (INSERT INTO users (username, display_name, password_hash) VALUES ('s1', 'S One', 'x') RETURNING id),
            co AS (INSERT INTO companies (name) VALUES ('Co') RETURNING id),
            cu AS (INSERT INTO customers (company_id, name) SELECT id, 'Cu' FROM co RETURNING id)
       INSERT INTO visits (customer_id, salesperson_id, visit_date) SELECT cu.id, u.id, date '2026-01-01' + g FROM cu, u, generate_series(1, 2) g`,
    );
    // A build that failed half-way leaves an INVALID index under the name: here a unique
    // one that two pending visits of one salesperson break.
    await assert.rejects(queryOnce(databaseUrl, 'CREATE UNIQUE INDEX CONCURRENTLY visits_pending_idx ON visits (salesperson_id) WHERE NOT done'), /could not create unique index/);
    const indexes = () =>
      queryOnce<{ name: string; valid: boolean; unique: boolean }>(
        databaseUrl,
        `SELECT c.relname AS name, i.indisvalid AS valid, i.indisunique AS unique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid IN ('visits'::regclass, 'customers'::regclass) ORDER BY 1`,
      );
    assert.deepEqual(
      (await indexes()).filter((i) => i.name === 'visits_pending_idx'),
      [{ name: 'visits_pending_idx', valid: false, unique: true }],
    );

    const app = await AppProcess.startHealthy(databaseUrl, tempDir('uploads'));
    await app.stop();
    const after = await indexes();
    assert.deepEqual(
      after.filter((i) => !i.valid),
      [],
      'every index valid',
    );
    const names = after.map((i) => i.name);
    for (const name of ['visits_date_cover_idx', 'visits_pending_idx', 'customers_current_name_idx']) assert.ok(names.includes(name), name);
    assert.equal(after.find((i) => i.name === 'visits_pending_idx')?.unique, false, 'the leftover was replaced, not kept');
    for (const name of ['visits_date_idx', 'visits_salesperson_idx']) assert.ok(!names.includes(name), `${name} dropped`);
    const [pending] = await queryOnce<{ def: string }>(databaseUrl, "SELECT pg_get_indexdef('visits_pending_idx'::regclass) AS def");
    assert.match(pending!.def, /\(salesperson_id, visit_date, id\) WHERE \(NOT done\)/);
  });
});
