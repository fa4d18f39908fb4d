import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_PASSWORD, AppProcess, tempDir } from './support/app.js';
import { Client, csrfToken } from './support/client.js';
import { createDatabase, queryOnce } from './support/db.js';
import { createCompany, createSalesTeam, createUser } from './support/fixtures.js';
import { solidPng } from './support/images.js';

type Role = 'admin' | 'manager' | 'salesperson';
/** Whose record a case touches: the acting user's own, another salesperson's, or nobody's. */
type Whose = 'own' | 'other' | '-';

interface Actor {
  role: Role;
  id: number;
  password: string;
  web: Client;
  csrf: string;
  token: string;
}

interface Ctx {
  actor: Actor;
  /** The acting user's, or the other salesperson's, user id. */
  owner: number;
  /** A visit of `owner`, fresh for this case (the same one on every call within it). */
  visit: () => Promise<number>;
  /** An API token of `owner`, fresh for this case (the same one on every call within it). */
  apiToken: () => Promise<{ id: number; token: string }>;
  customerId: number;
  companyId: number;
  targetUserId: number;
  /** A stored photo's name, for /uploads/:name. */
  upload: string;
  unique: string;
  databaseUrl: string;
}

interface Case {
  name: string;
  whose: Whose;
  /** Which roles may do it (for 'own'/'other' cases: on that kind of record). */
  allowed: Role[];
  /** The answers that mean refused. @default [403] */
  refused?: number[];
  send: (ctx: Ctx) => Promise<Response>;
  /** What must (not) have changed after the request: a problem, or undefined. */
  check?: (ctx: Ctx, allowed: boolean) => Promise<string | undefined>;
}

const ALL: Role[] = ['admin', 'manager', 'salesperson'];
const SALES_MANAGERS: Role[] = ['admin', 'manager'];
const ADMINS: Role[] = ['admin'];

const page = (method: 'GET' | 'POST', path: (c: Ctx) => string | Promise<string>, fields?: (c: Ctx) => Record<string, string>) => async (c: Ctx) =>
  method === 'GET' ? c.actor.web.get(await path(c)) : c.actor.web.post(await path(c), fields ? fields(c) : {}, c.actor.csrf);

const api = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: (c: Ctx) => string | Promise<string>, body?: (c: Ctx) => object) => async (c: Ctx) =>
  fetch(`${c.actor.web.baseUrl}/api/v1${await path(c)}`, {
    method,
    headers: { authorization: `Bearer ${c.actor.token}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body(c)) } : {}),
  });

const visitFields = (c: Ctx) => ({ customer_id: String(c.customerId), salesperson_id: String(c.owner), visit_date: '2025-06-01', notes: `n ${c.unique}` });
/** The visit's fields, but assigned to `to` (the acting user, or another salesperson). */
const assignedTo = (to: (c: Ctx) => number) => (c: Ctx) => ({ ...visitFields(c), salesperson_id: String(to(c)) });

const visitRow = async (c: Ctx) =>
  (await queryOnce<{ salesperson_id: number; notes: string | null }>(c.databaseUrl, 'SELECT salesperson_id, notes FROM visits WHERE id = $1', [await c.visit()]))[0];

/** An edit took effect when allowed; when refused, the visit is exactly as it was created. */
const visitEdited = async (c: Ctx, allowed: boolean) => {
  const row = await visitRow(c);
  if (allowed) return row?.notes === `n ${c.unique}` ? undefined : `not saved: ${JSON.stringify(row)}`;
  return row?.salesperson_id === c.owner && row.notes === '' ? undefined : `changed although refused: ${JSON.stringify(row)}`;
};

const visitDeleted = async (c: Ctx, allowed: boolean) => {
  const row = await visitRow(c);
  if (allowed) return row ? 'still there' : undefined;
  return row ? undefined : 'deleted although refused';
};

const tokenRevoked = async (c: Ctx, allowed: boolean) => {
  const { token } = await c.apiToken();
  const status = (await fetch(`${c.actor.web.baseUrl}/api/v1/visits`, { headers: { authorization: `Bearer ${token}` } })).status;
  if (allowed) return status === 401 ? undefined : `token still works (${status})`;
  return status === 200 ? undefined : `token stopped working (${status})`;
};
const customerFields = (c: Ctx) => ({ company_id: String(c.companyId), name: `Customer ${c.unique}` });

const CASES: Case[] = [
  // Pages: customers (everyone reads, creates and edits them).
  { name: 'GET /customers', whose: '-', allowed: ALL, send: page('GET', () => '/customers') },
  { name: 'GET /customers/:id', whose: '-', allowed: ALL, send: page('GET', (c) => `/customers/${c.customerId}`) },
  { name: 'GET /customers/new', whose: '-', allowed: ALL, send: page('GET', () => '/customers/new') },
  { name: 'POST /customers', whose: '-', allowed: ALL, send: page('POST', () => '/customers', customerFields) },
  { name: 'GET /customers/:id/edit', whose: '-', allowed: ALL, send: page('GET', (c) => `/customers/${c.customerId}/edit`) },
  { name: 'POST /customers/:id', whose: '-', allowed: ALL, send: page('POST', (c) => `/customers/${c.customerId}`, customerFields) },
  { name: 'GET /customers/export.csv', whose: '-', allowed: ALL, send: page('GET', () => '/customers/export.csv') },
  { name: 'GET /customers/import', whose: '-', allowed: SALES_MANAGERS, send: page('GET', () => '/customers/import') },
  {
    name: 'POST /customers/import',
    whose: '-',
    allowed: SALES_MANAGERS,
    send: (c) => c.actor.web.post('/customers/import', { csv: new Blob([`name,company\nImported ${c.unique},Matrix Co\n`], { type: 'text/csv' }) }, c.actor.csrf),
  },
  { name: 'POST /customers/:id/archive', whose: '-', allowed: SALES_MANAGERS, send: page('POST', (c) => `/customers/${c.customerId}/archive`) },
  { name: 'POST /customers/:id/restore', whose: '-', allowed: SALES_MANAGERS, send: page('POST', (c) => `/customers/${c.customerId}/restore`) },
  { name: 'GET /', whose: '-', allowed: ALL, send: page('GET', () => '/') },
  // Pages: companies (read-only for salespeople).
  { name: 'GET /companies/:id', whose: '-', allowed: ALL, send: page('GET', (c) => `/companies/${c.companyId}`) },
  { name: 'GET /companies/export.csv', whose: '-', allowed: ALL, send: page('GET', () => '/companies/export.csv') },
  { name: 'POST /companies/:id/archive', whose: '-', allowed: SALES_MANAGERS, send: page('POST', (c) => `/companies/${c.companyId}/archive`) },
  { name: 'POST /companies/:id/restore', whose: '-', allowed: SALES_MANAGERS, send: page('POST', (c) => `/companies/${c.companyId}/restore`) },
  { name: 'GET /companies', whose: '-', allowed: ALL, send: page('GET', () => '/companies') },
  { name: 'GET /companies/new', whose: '-', allowed: SALES_MANAGERS, send: page('GET', () => '/companies/new') },
  { name: 'POST /companies', whose: '-', allowed: SALES_MANAGERS, send: page('POST', () => '/companies', (c) => ({ name: `Co ${c.unique}` })) },
  { name: 'GET /companies/:id/edit', whose: '-', allowed: SALES_MANAGERS, send: page('GET', (c) => `/companies/${c.companyId}/edit`) },
  { name: 'POST /companies/:id', whose: '-', allowed: SALES_MANAGERS, send: page('POST', (c) => `/companies/${c.companyId}`, () => ({ name: 'Matrix Co' })) },
  // Pages: visits.
  { name: 'GET /visits', whose: '-', allowed: ALL, send: page('GET', () => '/visits') },
  { name: 'GET /visits/new', whose: '-', allowed: ALL, send: page('GET', (c) => `/visits/new?customer_id=${c.customerId}`) },
  { name: 'GET /visits/export.csv', whose: '-', allowed: ALL, send: page('GET', () => '/visits/export.csv') },
  ...(['own', 'other'] as const).flatMap((whose): Case[] => {
    const allowed = whose === 'own' ? ALL : SALES_MANAGERS;
    return [
      { name: 'POST /visits (for)', whose, allowed, send: page('POST', () => '/visits', visitFields) },
      { name: 'GET /visits/:id/edit', whose, allowed, send: page('GET', async (c) => `/visits/${await c.visit()}/edit`) },
      { name: 'POST /visits/:id', whose, allowed, send: page('POST', async (c) => `/visits/${await c.visit()}`, visitFields), check: visitEdited },
      { name: 'POST /visits/:id/done', whose, allowed, send: page('POST', async (c) => `/visits/${await c.visit()}/done`) },
      { name: 'POST /visits/:id/delete', whose, allowed, send: page('POST', async (c) => `/visits/${await c.visit()}/delete`), check: visitDeleted },
      { name: 'GET /api/v1/visits/:id', whose, allowed: ALL, send: api('GET', async (c) => `/visits/${await c.visit()}`) },
      { name: 'POST /api/v1/visits (for)', whose, allowed, send: api('POST', () => '/visits', visitFields) },
      { name: 'PUT /api/v1/visits/:id', whose, allowed, send: api('PUT', async (c) => `/visits/${await c.visit()}`, visitFields), check: visitEdited },
      { name: 'DELETE /api/v1/visits/:id', whose, allowed, send: api('DELETE', async (c) => `/visits/${await c.visit()}`), check: visitDeleted },
      // Only one's own tokens; another user's is as absent as one that does not exist.
      {
        name: 'POST /tokens/:id/revoke',
        whose,
        allowed: whose === 'own' ? ALL : [],
        refused: [404],
        send: page('POST', async (c) => `/tokens/${(await c.apiToken()).id}/revoke`),
        check: tokenRevoked,
      },
    ];
  }),
  // The attack: taking over another's visit by naming oneself as its salesperson.
  {
    name: 'POST /visits/:id (other\'s, taken over)',
    whose: 'other',
    allowed: SALES_MANAGERS,
    send: page('POST', async (c) => `/visits/${await c.visit()}`, assignedTo((c) => c.actor.id)),
    check: visitEdited,
  },
  {
    name: 'PUT /api/v1/visits/:id (other\'s, taken over)',
    whose: 'other',
    allowed: SALES_MANAGERS,
    send: api('PUT', async (c) => `/visits/${await c.visit()}`, assignedTo((c) => c.actor.id)),
    check: visitEdited,
  },
  // Reassigning one's own visit to someone else is an edit of theirs (README: a
  // salesperson cannot assign a visit to someone else).
  {
    name: 'POST /visits/:id (own, reassigned to other)',
    whose: 'own',
    allowed: SALES_MANAGERS,
    send: page('POST', async (c) => `/visits/${await c.visit()}`, assignedTo((c) => c.targetUserId)),
    check: visitEdited,
  },
  {
    name: 'PUT /api/v1/visits/:id (own, reassigned to other)',
    whose: 'own',
    allowed: SALES_MANAGERS,
    send: api('PUT', async (c) => `/visits/${await c.visit()}`, assignedTo((c) => c.targetUserId)),
    check: visitEdited,
  },
  // Pages: users (administrators only) and one's own account (everyone).
  { name: 'GET /users', whose: '-', allowed: ADMINS, send: page('GET', () => '/users') },
  { name: 'GET /users/new', whose: '-', allowed: ADMINS, send: page('GET', () => '/users/new') },
  { name: 'GET /users/export.csv', whose: '-', allowed: ADMINS, send: page('GET', () => '/users/export.csv') },
  {
    name: 'POST /users',
    whose: '-',
    allowed: ADMINS,
    send: page('POST', () => '/users', (c) => ({ username: `u${c.unique}`, display_name: 'New', password: 'password-1234', role: 'salesperson' })),
  },
  { name: 'GET /users/:id/edit', whose: '-', allowed: ADMINS, send: page('GET', (c) => `/users/${c.targetUserId}/edit`) },
  {
    name: 'POST /users/:id',
    whose: '-',
    allowed: ADMINS,
    send: page('POST', (c) => `/users/${c.targetUserId}`, () => ({ username: 'carol', display_name: 'Carol', role: 'salesperson' })),
  },
  { name: 'GET /users/:id/password', whose: '-', allowed: ADMINS, send: page('GET', (c) => `/users/${c.targetUserId}/password`) },
  { name: 'POST /users/:id/password', whose: '-', allowed: ADMINS, send: page('POST', (c) => `/users/${c.targetUserId}/password`, () => ({ password: 'carol-password' })) },
  { name: 'POST /users/:id/disable', whose: '-', allowed: ADMINS, send: page('POST', (c) => `/users/${c.targetUserId}/disable`) },
  { name: 'POST /users/:id/enable', whose: '-', allowed: ADMINS, send: page('POST', (c) => `/users/${c.targetUserId}/enable`) },
  { name: 'GET /account', whose: '-', allowed: ALL, send: page('GET', () => '/account') },
  {
    // The same password again, so the other cases' sign-ins stay valid.
    name: 'POST /account/password',
    whose: '-',
    allowed: ALL,
    send: page('POST', () => '/account/password', (c) => ({ current_password: c.actor.password, password: c.actor.password, confirm: c.actor.password })),
  },
  {
    name: 'POST /account/photo',
    whose: '-',
    allowed: ALL,
    send: (c) => c.actor.web.post('/account/photo', { photo: new Blob([new Uint8Array(solidPng(8, 8, [10, 120, 200]))], { type: 'image/png' }) }, c.actor.csrf),
  },
  { name: 'GET /tokens', whose: '-', allowed: ALL, send: page('GET', () => '/tokens') },
  { name: 'POST /tokens', whose: '-', allowed: ALL, send: page('POST', () => '/tokens', (c) => ({ name: `t ${c.unique}` })) },
  { name: 'GET /uploads/:name', whose: '-', allowed: ALL, send: page('GET', (c) => `/uploads/${c.upload}`) },
  // API: customers.
  { name: 'GET /api/v1/customers', whose: '-', allowed: ALL, send: api('GET', () => '/customers') },
  { name: 'GET /api/v1/customers/:id', whose: '-', allowed: ALL, send: api('GET', (c) => `/customers/${c.customerId}`) },
  { name: 'POST /api/v1/customers', whose: '-', allowed: ALL, send: api('POST', () => '/customers', customerFields) },
  { name: 'PUT /api/v1/customers/:id', whose: '-', allowed: ALL, send: api('PUT', (c) => `/customers/${c.customerId}`, customerFields) },
  // Customers are archived (pages), never deleted: the API has no such method (404), and
  // salespeople, who may not even archive them, are refused before that (403).
  { name: 'DELETE /api/v1/customers/:id', whose: '-', allowed: [], refused: [403, 404], send: api('DELETE', (c) => `/customers/${c.customerId}`) },
  { name: 'GET /api/v1/visits', whose: '-', allowed: ALL, send: api('GET', () => '/visits') },
];

describe('roles: every route and method, for every role, on own and others\' records', () => {
  let app: AppProcess;
  let databaseUrl: string;
  const actors = new Map<Role, Actor>();
  let bobId: number;
  let carolId: number;
  let customerId: number;
  let companyId: number;
  let upload: string;

  async function actor(role: Role, username: string, password: string): Promise<Actor> {
    const web = new Client(app.url);
    await web.login(username, password);
    const tokenPage = await web.submit('/tokens', '/tokens', { name: 'matrix' });
    const token = /id="new-token">(crm_[A-Za-z0-9_-]+)</.exec(await tokenPage.text())?.[1];
    assert.ok(token);
    const [row] = await queryOnce<{ id: number }>(databaseUrl, 'SELECT id FROM users WHERE username = $1', [username]);
    return { role, id: row!.id, password, web, csrf: csrfToken(await web.text('/account')), token };
  }

  before(async () => {
    databaseUrl = await createDatabase('roles');
    const uploadDir = tempDir('uploads');
    app = await AppProcess.startHealthy(databaseUrl, uploadDir);
    const png = solidPng(8, 8, [200, 40, 40]);
    upload = `${createHash('sha256').update(png).digest('hex')}.png`;
    writeFileSync(path.join(uploadDir, upload), png);
    const { admin, ids } = await createSalesTeam(app.url);
    bobId = ids.bob;
    carolId = await createUser(admin, 'carol', 'carol-password', 'salesperson');
    companyId = await createCompany(admin, databaseUrl, 'Matrix Co');
    const [c] = await queryOnce<{ id: number }>(databaseUrl, "INSERT INTO customers (company_id, name) VALUES ($1, 'Matrix Customer') RETURNING id", [companyId]);
    customerId = c!.id;
    actors.set('admin', await actor('admin', 'admin', ADMIN_PASSWORD));
    actors.set('manager', await actor('manager', 'maria', 'maria-password'));
    actors.set('salesperson', await actor('salesperson', 'alice', 'alice-password'));
  });
  after(() => app.stop());

  for (const role of ['admin', 'manager', 'salesperson'] as const) {
    it(`${role}: of ${CASES.length} route/method/record cases, allowed ones answer 2xx/3xx, every other one refused (403, or as the case names)`, async () => {
      const a = actors.get(role)!;
      const wrong: string[] = [];
      let n = 0;
      for (const c of CASES) {
        const owner = c.whose === 'other' ? bobId : a.id;
        let visit: Promise<number> | undefined;
        let apiToken: Promise<{ id: number; token: string }> | undefined;
        const ctx: Ctx = {
          actor: a,
          owner,
          customerId,
          companyId,
          targetUserId: carolId,
          upload,
          unique: `${role}-${n++}`,
          databaseUrl,
          visit: () =>
            (visit ??= queryOnce<{ id: number }>(
              databaseUrl,
              "INSERT INTO visits (customer_id, salesperson_id, visit_date) VALUES ($1, $2, '2025-05-01') RETURNING id",
              [customerId, owner],
            ).then((rows) => rows[0]!.id)),
          apiToken: () =>
            (apiToken ??= (async () => {
              const token = `crm_${randomBytes(32).toString('base64url')}`;
              const digest = createHash('sha256').update(token).digest('hex');
              const rows = await queryOnce<{ id: number }>(databaseUrl, "INSERT INTO api_tokens (user_id, name, token_hash) VALUES ($1, 'matrix', $2) RETURNING id", [owner, digest]);
              return { id: rows[0]!.id, token };
            })()),
        };
        const res = await c.send(ctx);
        await res.arrayBuffer();
        const allowed = c.allowed.includes(role);
        const refused = c.refused ?? [403];
        const ok = allowed ? res.status >= 200 && res.status < 400 && !/\/login/.test(res.headers.get('location') ?? '') : refused.includes(res.status);
        const problem = ok ? await c.check?.(ctx, allowed) : undefined;
        if (!ok) wrong.push(`${c.name} [${c.whose}]: ${res.status} ${res.headers.get('location') ?? ''} (expected ${allowed ? 'allowed' : refused.join(' or ')})`);
        if (problem) wrong.push(`${c.name} [${c.whose}]: ${problem}`);
      }
      assert.deepEqual(wrong, [], `${role}: ${wrong.length} of ${CASES.length} cases wrong`);
    });
  }

  it('a salesperson sees no edit or delete buttons on another\'s visit, but on their own', async () => {
    const alice = actors.get('salesperson')!;
    await queryOnce(databaseUrl, 'DELETE FROM visits');
    await queryOnce(databaseUrl, "INSERT INTO visits (customer_id, salesperson_id, visit_date, notes) VALUES ($1, $2, '2025-01-01', 'bobs'), ($1, $3, '2025-01-02', 'alices')", [
      customerId,
      bobId,
      alice.id,
    ]);
    const html = await alice.web.text(`/customers/${customerId}`);
    const rows = html.split('<tr>').slice(1);
    const row = (notes: string) => rows.find((r) => r.includes(`>${notes}<`)) ?? '';
    assert.match(row('alices'), /Edit[^]*Delete/);
    assert.doesNotMatch(row('bobs'), /Edit|Delete/);
  });
});
