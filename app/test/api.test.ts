import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, AppProcess, tempDir } from './support/app.js';
import { Client } from './support/client.js';
import { createDatabase, queryOnce } from './support/db.js';
import { createCompany } from './support/fixtures.js';

interface PageBody {
  items: { id: number; name?: string; customer_name?: string; visit_date?: string; done?: boolean }[];
  page: number;
  pageSize: number;
  total: number;
  pages: number;
}

describe('JSON API', () => {
  let app: AppProcess;
  let web: Client;
  let databaseUrl: string;
  let token: string;
  let companyId: number;

  const api = (path: string, init: RequestInit = {}, bearer: string | null = token) =>
    fetch(`${app.url}/api/v1${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    });

  before(async () => {
    databaseUrl = await createDatabase('api');
    app = await AppProcess.startHealthy(databaseUrl, tempDir('uploads'));
    web = new Client(app.url);
    await web.login('admin', ADMIN_PASSWORD);
    companyId = await createCompany(web, databaseUrl, 'Api Co');
    const res = await web.submit('/tokens', '/tokens', { name: 'test script' });
    const m = /id="new-token">(crm_[A-Za-z0-9_-]+)</.exec(await res.text());
    assert.ok(m?.[1], 'the new token is shown once');
    token = m[1];
  });
  after(() => app.stop());

  it('refuses requests without a valid token with 401', async () => {
    for (const bearer of [null, 'crm_not-a-real-token-at-all']) {
      const res = await api('/customers', {}, bearer);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.equal(res.headers.get('set-cookie'), null, 'the API never creates sessions');
    }
  });

  it('stores only a hash of the token', async () => {
    const rows = await queryOnce<{ token_hash: string }>(databaseUrl, 'SELECT token_hash FROM api_tokens');
    assert.equal(rows.length, 1);
    assert.notEqual(rows[0]?.token_hash, token);
    assert.ok(!rows[0]?.token_hash.includes(token.slice(4, 20)));
  });

  it('creates customers and lists them 20 to a page, with search', async () => {
    for (let i = 1; i <= 25; i++) {
      const name = `Customer ${String(i).padStart(2, '0')}`;
      const res = await api('/customers', { method: 'POST', body: JSON.stringify({ name, company_id: companyId }) });
      assert.equal(res.status, 201, name);
    }
    const page1 = (await (await api('/customers')).json()) as PageBody;
    assert.equal(page1.total, 25);
    assert.equal(page1.pages, 2);
    assert.equal(page1.items.length, 20);
    assert.equal(page1.items[0]?.name, 'Customer 01');
    const page2 = (await (await api('/customers?page=2')).json()) as PageBody;
    assert.deepEqual(page2.items.map((c) => c.name), ['Customer 21', 'Customer 22', 'Customer 23', 'Customer 24', 'Customer 25']);
    const found = (await (await api('/customers?q=er 1')).json()) as PageBody;
    assert.equal(found.total, 10, '"er 1" matches Customer 10 to Customer 19');
  });

  it('rejects invalid input with 422 and the field named', async () => {
    const res = await api('/customers', { method: 'POST', body: JSON.stringify({ name: '', company_id: companyId }) });
    assert.equal(res.status, 422);
    assert.deepEqual(await res.json(), { errors: { name: 'Name is required' } });
  });

  it('creates and lists visits, newest first', async () => {
    const customers = (await (await api('/customers?q=Customer 01')).json()) as PageBody;
    const customerId = customers.items[0]?.id;
    const me = await queryOnce<{ id: number }>(databaseUrl, "SELECT id FROM users WHERE username = 'admin'");
    for (const [date, done] of [['2025-03-01', true], ['2025-04-01', false]] as const) {
      const body = { customer_id: customerId, salesperson_id: me[0]?.id, visit_date: date, notes: 'demo', done };
      assert.equal((await api('/visits', { method: 'POST', body: JSON.stringify(body) })).status, 201);
    }
    const visits = (await (await api("/visits")).json()) as PageBody;
    assert.equal(visits.total, 2);
    assert.deepEqual(visits.items.map((v) => [v.visit_date, v.done]), [['2025-04-01', false], ['2025-03-01', true]]);
    assert.equal(visits.items[0]?.customer_name, 'Customer 01');
  });

  it('stops accepting a token once it is revoked', async () => {
    const [row] = await queryOnce<{ id: number }>(databaseUrl, 'SELECT id FROM api_tokens');
    const res = await web.submit('/tokens', `/tokens/${row?.id}/revoke`, {});
    assert.equal(res.status, 303);
    assert.equal((await api('/customers')).status, 401);
  });
});
