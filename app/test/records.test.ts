import assert from 'node:assert/strict';
import { AppProcess, tempDir } from './support/app.js';
import { Client } from './support/client.js';
import { createDatabase, queryOnce } from './support/db.js';
import { createCompany, createSalesTeam } from './support/fixtures.js';

/** The names in the first column links of a list page. */
const linkedNames = (html: string, prefix: string): string[] =>
  [...html.matchAll(new RegExp(`<a href="/${prefix}/\\d+">([^<]+)</a>`, 'g'))].map((m) => m[1]!);

const isoDay = (offsetDays: number): string => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

describe('records: companies, archiving, paging, filters, home page, CSV', () => {
  let app: AppProcess;
  let databaseUrl: string;
  let admin: Client;
  let manager: Client;
  let alice: Client;
  let aliceId: number;
  let bobId: number;
  let acme: number;
  let globex: number;

  const sql = <T extends object>(text: string, params: unknown[] = []) => queryOnce<T & Record<string, unknown>>(databaseUrl, text, params);
  const insertCustomer = async (companyId: number, name: string) =>
    (await sql<{ id: number }>('INSERT INTO customers (company_id, name, email) VALUES ($1, $2, $3) RETURNING id', [companyId, name, `${name.replace(/\W/g, '')}@x.test`]))[0]!.id;
  const insertVisit = async (customerId: number, salespersonId: number, date: string, done = false, notes = '') =>
    (await sql<{ id: number }>('INSERT INTO visits (customer_id, salesperson_id, visit_date, done, notes) VALUES ($1, $2, $3, $4, $5) RETURNING id', [customerId, salespersonId, date, done, notes]))[0]!.id;

  before(async () => {
    databaseUrl = await createDatabase('records');
    app = await AppProcess.startHealthy(databaseUrl, tempDir('uploads'));
    const team = await createSalesTeam(app.url);
    admin = team.admin;
    ({ alice: aliceId, bob: bobId } = team.ids);
    manager = new Client(app.url);
    await manager.login('maria', 'maria-password');
    alice = new Client(app.url);
    await alice.login('alice', 'alice-password');
    acme = await createCompany(manager, databaseUrl, 'Acme');
    globex = await createCompany(manager, databaseUrl, 'Globex');
  });
  after(() => app.stop());

  it('a company page lists its customers and their visits, each paged', async () => {
    for (let i = 1; i <= 25; i++) await insertCustomer(acme, `Acme Person ${String(i).padStart(2, '0')}`);
    const other = await insertCustomer(globex, 'Globex Person');
    const [first] = await sql<{ id: number }>("SELECT id FROM customers WHERE name = 'Acme Person 01'");
    await insertVisit(first!.id, aliceId, '2025-02-02', true, 'acme visit');
    await insertVisit(other, aliceId, '2025-02-03', true, 'globex visit');

    const page1 = await manager.text(`/companies/${acme}`);
    assert.equal(linkedNames(page1, 'customers').filter((n) => n.startsWith('Acme Person')).length, 20 + 1, '20 customers + the visit\'s customer link');
    assert.match(page1, /25 found · page 1 of 2/);
    assert.match(page1, /acme visit/);
    assert.doesNotMatch(page1, /globex visit|Globex Person/);
    const page2 = await manager.text(`/companies/${acme}?cpage=2`);
    assert.deepEqual(linkedNames(page2, 'customers').filter((n) => n.startsWith('Acme Person') && n !== 'Acme Person 01'), ['Acme Person 21', 'Acme Person 22', 'Acme Person 23', 'Acme Person 24', 'Acme Person 25']);
  });

  it('archived customers and companies are hidden by default, listed on request, and restored', async () => {
    const id = await insertCustomer(globex, 'Archie Archived');
    assert.equal((await manager.submit(`/customers/${id}`, `/customers/${id}/archive`, {})).status, 303);
    assert.doesNotMatch(await manager.text('/customers?q=archie'), /Archie Archived/);
    assert.match(await manager.text('/customers?archived=1&q=archie'), /Archie Archived/);
    assert.match(await manager.text(`/customers/${id}`), /Archived/, 'its page still opens');
    assert.equal((await manager.submit(`/customers/${id}`, `/customers/${id}/restore`, {})).status, 303);
    assert.match(await manager.text('/customers?q=archie'), /Archie Archived/);

    assert.equal((await manager.submit(`/companies/${globex}`, `/companies/${globex}/archive`, {})).status, 303);
    assert.doesNotMatch(await manager.text('/companies'), />Globex</);
    assert.match(await manager.text('/companies?archived=1'), />Globex</);
    assert.doesNotMatch(await manager.text('/customers/new'), />Globex</, 'not offered for new customers');
    assert.equal((await manager.submit(`/companies/${globex}`, `/companies/${globex}/restore`, {})).status, 303);
    assert.match(await manager.text('/companies'), />Globex</);
    assert.equal((await alice.submit(`/customers/${id}`, `/customers/${id}/archive`, {})).status, 403, 'salespeople cannot archive');
  });

  it('a customer page pages through all visits (not only the first 50)', async () => {
    const id = await insertCustomer(acme, 'Busy Customer');
    for (let i = 0; i < 55; i++) await insertVisit(id, bobId, `2024-01-${String((i % 28) + 1).padStart(2, '0')}`, true, `busy-${i}`);
    const notes = new Set<string>();
    for (let p = 1; p <= 3; p++) {
      const html = await manager.text(`/customers/${id}?page=${p}`);
      for (const m of html.matchAll(/busy-(\d+)/g)) notes.add(m[0]);
      if (p === 1) assert.match(html, /55 found · page 1 of 3/);
    }
    assert.equal(notes.size, 55);
  });

  it('the home page shows my next pending visits, soonest first, and my pending count', async () => {
    await sql('DELETE FROM visits');
    const c = await insertCustomer(acme, 'Home Customer');
    await insertVisit(c, aliceId, isoDay(5), false, 'in five days');
    await insertVisit(c, aliceId, isoDay(1), false, 'tomorrow');
    await insertVisit(c, aliceId, isoDay(-3), false, 'overdue');
    await insertVisit(c, aliceId, isoDay(2), true, 'already done');
    await insertVisit(c, bobId, isoDay(1), false, 'bobs visit');
    const html = await alice.text('/');
    const order = ['tomorrow', 'in five days'].map((n) => html.indexOf(n));
    assert.ok(order[0]! > 0 && order[0]! < order[1]!, 'soonest first');
    assert.doesNotMatch(html, /already done|bobs visit|overdue/);
    assert.match(html, /id="pending-count">3</, 'pending: tomorrow, in five days and the overdue one');
  });

  it('filters visits: mine, date range, done/pending, salesperson, company', async () => {
    await sql('DELETE FROM visits');
    const a = await insertCustomer(acme, 'Filter Acme');
    const g = await insertCustomer(globex, 'Filter Globex');
    await insertVisit(a, aliceId, '2025-03-01', false, 'v-alice-acme-march-pending');
    await insertVisit(g, aliceId, '2025-04-01', true, 'v-alice-globex-april-done');
    await insertVisit(a, bobId, '2025-03-15', true, 'v-bob-acme-march-done');
    await insertVisit(g, bobId, '2025-05-01', false, 'v-bob-globex-may-pending');
    const shown = async (query: string) => [...(await alice.text(`/visits${query}`)).matchAll(/v-[a-z-]+/g)].map((m) => m[0]).sort();
    assert.deepEqual(await shown('?mine=1'), ['v-alice-acme-march-pending', 'v-alice-globex-april-done']);
    assert.deepEqual(await shown('?mine=1&status=pending'), ['v-alice-acme-march-pending']);
    assert.deepEqual(await shown('?from=2025-03-10&to=2025-04-30'), ['v-alice-globex-april-done', 'v-bob-acme-march-done']);
    assert.deepEqual(await shown('?status=done'), ['v-alice-globex-april-done', 'v-bob-acme-march-done']);
    assert.deepEqual(await shown(`?salesperson=${bobId}`), ['v-bob-acme-march-done', 'v-bob-globex-may-pending']);
    assert.deepEqual(await shown(`?company=${globex}&status=pending`), ['v-bob-globex-may-pending']);
    assert.deepEqual(await shown('?from=not-a-date'), (await shown('')), 'a malformed filter is ignored');
  });

  it('exports every list as CSV, with the list\'s filters, and defuses spreadsheet formulas', async () => {
    await insertCustomer(acme, '=HYPERLINK("http://evil.test")');
    const customers = await manager.get('/customers/export.csv?q=acme');
    assert.equal(customers.status, 200);
    assert.match(customers.headers.get('content-type') ?? '', /text\/csv/);
    const lines = (await customers.text()).replace(/^\uFEFF/, '').trim().split(/\r?\n/);
    assert.equal(lines[0], 'id,name,company,email,phone,address,archived');
    const [count] = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM customers c JOIN companies co ON co.id = c.company_id
      WHERE c.archived_at IS NULL AND (c.name ILIKE '%acme%' OR c.email ILIKE '%acme%' OR co.name ILIKE '%acme%')`);
    assert.equal(lines.length - 1, count!.n, 'one line per customer the list shows (all pages)');
    assert.ok(lines.some((l) => l.includes(`"'=HYPERLINK(""http://evil.test"")"`)), 'formula cell starts with an apostrophe');

    const bytes = Buffer.from(await (await alice.get('/visits/export.csv?status=done')).arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a BOM, so spreadsheets read UTF-8');
    const visits = bytes.subarray(3).toString('utf8');
    assert.match(visits, /^id,date,customer,company,salesperson,done,notes/);
    assert.equal(visits.trim().split(/\r?\n/).length - 1, 2);
    assert.match(await (await manager.get('/companies/export.csv')).text(), /Acme[^]*Globex/);
    const users = await (await admin.get('/users/export.csv?q=alice')).text();
    assert.deepEqual(users.trim().split(/\r?\n/).map((l) => l.split(',').slice(1).join(',')), ['username,name,role,disabled', 'alice,Alice,salesperson,false']);
  });

  it('imports customers from CSV all or nothing, with a report of every bad row', async () => {
    const before = (await sql<{ n: number }>('SELECT count(*)::int AS n FROM customers'))[0]!.n;
    const bad = ['name,company,email,phone', 'Good One,Acme,good@x.test,+1 555', ',Acme,,', 'Bad Mail,Globex,not-an-email,', 'No Company,Initech,,'].join('\n');
    assert.equal((await alice.get('/customers/import')).status, 403, 'bulk import is for managers');
    const res = await manager.submit('/customers/import', '/customers/import', { csv: new Blob([bad], { type: 'text/csv' }) });
    assert.equal(res.status, 422);
    const html = await res.text();
    assert.match(html, /Nothing was imported: 3 row\(s\) need correcting/);
    assert.match(html, /<td data-label="Line">3<\/td>[^]*name: Name is required/);
    assert.match(html, /<td data-label="Line">4<\/td>[^]*email: Email is not valid/);
    assert.match(html, /<td data-label="Line">5<\/td>[^]*no current company named &quot;Initech&quot;/);
    assert.equal((await sql<{ n: number }>('SELECT count(*)::int AS n FROM customers'))[0]!.n, before, 'not even the good row');

    // Lines of the file, not rows: a quoted address over two lines (2-3), an empty line (4).
    const spread = ['name,company,email,address', 'Good Two,Acme,two@x.test,"Main St 1', 'Springfield"', '', 'Bad Mail,Globex,not-an-email,'].join('\r\n');
    const spreadRes = await manager.submit('/customers/import', '/customers/import', { csv: new Blob([spread], { type: 'text/csv' }) });
    assert.equal(spreadRes.status, 422);
    assert.match(await spreadRes.text(), /<td data-label="Line">5<\/td>[^]*email: Email is not valid/);

    const broken = await manager.submit('/customers/import', '/customers/import', { csv: new Blob(['name,company\n"unclosed,Acme\n'], { type: 'text/csv' }) });
    assert.equal(broken.status, 422);
    assert.match(await broken.text(), /Not a readable CSV file/);
    const noCompanyColumn = await manager.submit('/customers/import', '/customers/import', { csv: new Blob(['name,email\nAnn,a@x.test\n'], { type: 'text/csv' }) });
    assert.match(await noCompanyColumn.text(), /Missing column\(s\): company/);

    const good = ['Name,Company,Email', 'Imported Ann,acme,ann@x.test', 'Imported Ben,Globex,'].join('\r\n');
    const ok = await manager.submit('/customers/import', '/customers/import', { csv: new Blob([`\uFEFF${good}`], { type: 'text/csv' }) });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/customers?imported=2');
    assert.deepEqual(linkedNames(await manager.text('/customers?q=imported'), 'customers'), ['Imported Ann', 'Imported Ben']);
  });

  it('counts up to 1,000 matches and still pages past them', async () => {
    const co = await createCompany(manager, databaseUrl, 'Huge Co');
    await sql(`INSERT INTO customers (company_id, name) SELECT $1, 'Mass ' || lpad(g::text, 5, '0') FROM generate_series(1, 1050) g`, [co]);
    const first = await manager.text('/customers?q=mass');
    assert.match(first, /more than 1000 found · page 1</);
    assert.match(first, /rel="next"/);
    const last = await manager.text('/customers?q=mass&page=53');
    assert.deepEqual(linkedNames(last, 'customers'), Array.from({ length: 10 }, (_, i) => `Mass ${String(1041 + i).padStart(5, '0')}`));
    assert.doesNotMatch(last, /rel="next"/);
  });

  it("searches visits by notes, the customer's name and the salesperson's name: each visit once, newest first, counted and paged across all three", async () => {
    await sql('DELETE FROM visits');
    const [bob] = await sql<{ display_name: string }>('SELECT display_name FROM users WHERE id = $1', [bobId]);
    await sql("UPDATE users SET display_name = 'Bob Quillson' WHERE id = $1", [bobId]);
    try {
      const zeta = await insertCustomer(globex, 'Zeta Quill');
      const other = await insertCustomer(acme, 'Other Person');
      const day = (month: number, d: number) => `2025-${String(month).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
      const tag = (kind: string, i: number) => `v-${kind}-${String(i).padStart(2, '0')}`;
      for (let i = 1; i <= 12; i++) await insertVisit(zeta, aliceId, day(6, i), false, tag('cust', i)); // the customer's name
      for (let i = 1; i <= 6; i++) await insertVisit(other, aliceId, day(7, i), false, `quill ${tag('notes', i)}`); // the notes
      for (let i = 1; i <= 5; i++) await insertVisit(other, bobId, day(5, i), false, tag('seller', i)); // the salesperson's name
      for (let i = 1; i <= 2; i++) await insertVisit(zeta, bobId, day(8, i), false, `quill ${tag('all', i)}`); // all three at once
      for (let i = 1; i <= 3; i++) await insertVisit(other, aliceId, day(9, i), false, tag('none', i));
      const shown = async (query: string) => {
        const html = await manager.text(`/visits${query}`);
        return { html, tags: [...html.matchAll(/v-[a-z]+-\d\d/g)].map((m) => m[0]) };
      };
      const newestFirst = (kind: string, n: number) => Array.from({ length: n }, (_, i) => tag(kind, n - i));
      const expectPages = async (why: string) => {
        const first = await shown('?q=quill');
        assert.match(first.html, /25 found · page 1 of 2/, why);
        assert.deepEqual(first.tags, [...newestFirst('all', 2), ...newestFirst('notes', 6), ...newestFirst('cust', 12)], why);
        assert.deepEqual((await shown('?q=quill&page=2')).tags, newestFirst('seller', 5), why);
        assert.deepEqual((await shown('?q=quill&status=done')).tags, [], `${why}: other filters still apply to every arm`);
      };
      await expectPages('few matching customers');
      await sql(`INSERT INTO customers (company_id, name) SELECT $1, 'Quill Extra ' || g FROM generate_series(1, 1000) g`, [acme]);
      await expectPages('more than 1,000 matching customers');
    } finally {
      await sql('UPDATE users SET display_name = $2 WHERE id = $1', [bobId, bob!.display_name]);
      await sql("DELETE FROM customers WHERE name LIKE 'Quill Extra %'");
    }
  });
});
