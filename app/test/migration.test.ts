import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
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

/** The commit before the one that added `file` (under src/): the release that ran without it. */
function releaseBefore(file: string): string {
  const added = git('log', '--diff-filter=A', '--format=%H', '--reverse', '--', `src/${file}`).split('\n')[0];
  assert.ok(added, `the commit that added ${file}`);
  return `${added}^`;
}

/** Builds the app as it was at `commit` (a release that servers still run during an upgrade); returns its server.js. */
function buildRelease(commit: string): string {
  const dir = tempDir('previous-release');
  const archive = execFileSync('git', ['-C', APP_DIR, 'archive', commit, '--', 'src', 'views', 'public', 'package.json', 'tsconfig.json']);
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  // Its dependencies are a subset of today's; tsc compiles it the same way as build_app.
  symlinkSync(path.join(APP_DIR, 'node_modules'), path.join(dir, 'node_modules'));
  execFileSync(path.join(APP_DIR, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: dir });
  mkdirSync(path.join(dir, 'uploads'));
  return path.join(dir, 'dist', 'server.js');
}

/**
 * The release that servers still run while the first upgraded server applies the expand
 * migrations added since DEPLOYED_UP_TO: the app before the first of them was added.
 */
function buildPreviousRelease(): string {
  const migrations = readdirSync(path.join(APP_DIR, 'src', 'migrations')).sort();
  const firstNew = migrations[migrations.indexOf(DEPLOYED_UP_TO) + 1];
  assert.ok(firstNew && migrations.includes(DEPLOYED_UP_TO), `a migration after ${DEPLOYED_UP_TO}`);
  return buildRelease(releaseBefore(`migrations/${firstNew}`));
}

/** `node dist/db/migrate.js ARGS` against the database, as the deployment runs it. */
function migrateCommand(databaseUrl: string, ...args: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [path.join(APP_DIR, 'dist', 'db', 'migrate.js'), ...args], {
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
  });
  return { status: r.status, output: r.stdout + r.stderr };
}

/** What the contract drops, as it stands in the database. */
async function contracted(databaseUrl: string): Promise<Record<string, boolean>> {
  const [row] = await queryOnce<Record<string, boolean>>(
    databaseUrl,
    `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'is_admin') AS is_admin,
            to_regclass('login_failures') IS NOT NULL AS login_failures,
            EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'users_role_from_is_admin') AS trigger,
            to_regprocedure('users_role_from_is_admin()') IS NOT NULL AS function`,
  );
  return row!;
}
const ALL_THERE = { is_admin: true, login_failures: true, trigger: true, function: true };
const ALL_GONE = { is_admin: false, login_failures: false, trigger: false, function: false };

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
    assert.deepEqual(await contracted(databaseUrl), ALL_THERE, 'no contract at the start of a server on a database in use');

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

describe('contract: after every server runs the release, never before', () => {
  const FIRST_CONTRACT = readdirSync(path.join(APP_DIR, 'src', 'migrations', 'contract')).sort()[0]!;
  let previous: string;
  before(function () {
    this.timeout(120_000);
    // The release whose code still writes users.is_admin: the one before the first contract.
    previous = buildRelease(releaseBefore(`migrations/contract/${FIRST_CONTRACT}`));
  });

  it('the previous release works after expand and until contract; then the columns are gone and this release works; contract runs once', async () => {
    const databaseUrl = await createDatabase('contract');
    const uploadDir = tempDir('uploads');
    const old = AppProcess.start(appEnv(databaseUrl, uploadDir, await freePort()), previous);
    await old.waitHealthy();
    const onOld = new Client(old.url);
    await onOld.login('admin', ADMIN_PASSWORD);
    const createUser = (on: Client, username: string, role: string) =>
      on.submit('/users/new', '/users', { username, display_name: username, password: `${username}-password`, role });
    assert.equal((await createUser(onOld, 'mainadmin', 'admin')).status, 303);

    // Only old servers on the database: the contract is refused.
    const early = migrateCommand(databaseUrl, '--contract');
    assert.equal(early.status, 3, early.output);
    assert.match(early.output, /contract refused: expand migrations \S+ are not applied/);
    assert.deepEqual(await contracted(databaseUrl), ALL_THERE);

    // The first server of this release: expand only.
    const next = await AppProcess.startHealthy(databaseUrl, uploadDir);
    assert.match(next.log, /migrations applied: 1767571200000_role-sync-both-ways\n/);
    assert.deepEqual(await contracted(databaseUrl), ALL_THERE, 'no contract at the start of a server on a database in use');

    // Both releases write users; each sees the other's roles (the old one writes is_admin, this one not).
    assert.equal((await createUser(onOld, 'oldsales', 'salesperson')).status, 303);
    const onNew = new Client(next.url);
    await onNew.login('admin', ADMIN_PASSWORD);
    assert.equal((await createUser(onNew, 'newadmin', 'admin')).status, 303);
    const [mainadmin] = await queryOnce<{ id: number }>(databaseUrl, "SELECT id FROM users WHERE username = 'mainadmin'");
    const demote = { username: 'mainadmin', display_name: 'mainadmin', role: 'salesperson' };
    assert.equal((await onNew.submit(`/users/${mainadmin!.id}/edit`, `/users/${mainadmin!.id}`, demote)).status, 303);
    const roles = async () =>
      Object.fromEntries(
        (await queryOnce<{ username: string; role: string; is_admin: boolean }>(databaseUrl, 'SELECT username, role, is_admin FROM users')).map((u) => [
          u.username,
          `${u.role}${u.is_admin ? ' is_admin' : ''}`,
        ]),
      );
    assert.deepEqual(await roles(), { admin: 'admin is_admin', mainadmin: 'salesperson', oldsales: 'salesperson', newadmin: 'admin is_admin' });
    for (const [username, users] of [['mainadmin', 403], ['newadmin', 200]] as const) {
      const onOldAs = new Client(old.url);
      await onOldAs.login(username, `${username}-password`);
      assert.equal((await onOldAs.get('/users')).status, users, `${username} on the old server`);
    }

    // The last old server is gone: the deployment runs the contract.
    assert.equal(await old.stop(), 0);
    const ran = migrateCommand(databaseUrl, '--contract');
    assert.equal(ran.status, 0, ran.output);
    assert.match(ran.output, new RegExp(`migrations applied: ${FIRST_CONTRACT.replace(/\.ts$/, '')}\n`));
    assert.deepEqual(await contracted(databaseUrl), ALL_GONE);
    const again = migrateCommand(databaseUrl, '--contract');
    assert.equal(again.status, 0, again.output);
    assert.match(again.output, /migrations applied: none pending/);

    // This release goes on, and starts again, on the contracted schema.
    assert.equal((await createUser(onNew, 'lateadmin', 'admin')).status, 303);
    const late = new Client(next.url);
    await late.login('lateadmin', 'lateadmin-password');
    assert.equal((await late.get('/users')).status, 200);
    await next.stop();
    const restarted = await AppProcess.startHealthy(databaseUrl, uploadDir);
    await new Client(restarted.url).login('newadmin', 'newadmin-password');
    await restarted.stop();

    // The caveat: past the contract, the previous release cannot write users any more.
    const rolledBack = AppProcess.start(appEnv(databaseUrl, uploadDir, await freePort()), previous);
    await rolledBack.waitHealthy();
    const onRolledBack = new Client(rolledBack.url);
    await onRolledBack.login('admin', ADMIN_PASSWORD);
    assert.equal((await createUser(onRolledBack, 'toolate', 'salesperson')).status, 500);
    await rolledBack.stop();
  });

  it('on an empty database the first start applies expand and contract (no older server can exist)', async () => {
    const databaseUrl = await createDatabase('fresh');
    const app = await AppProcess.startHealthy(databaseUrl, tempDir('uploads'));
    await app.stop();
    assert.match(app.log, new RegExp(`migrations applied: .*${FIRST_CONTRACT.replace(/\.ts$/, '')}`));
    assert.deepEqual(await contracted(databaseUrl), ALL_GONE);
  });

  it('a contract before any expand is refused and changes nothing', async () => {
    const databaseUrl = await createDatabase('unexpanded');
    const r = migrateCommand(databaseUrl, '--contract');
    assert.equal(r.status, 3, r.output);
    assert.match(r.output, /contract refused: expand migrations 1735689600000_initial-schema, .* are not applied/);
    const [tables] = await queryOnce<{ n: number }>(databaseUrl, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
    assert.equal(tables!.n, 0);
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
