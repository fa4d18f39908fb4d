import assert from 'node:assert/strict';
import pg from 'pg';
import { containsPattern, type Page } from '../src/lib/pagination.js';
import { exportCustomers, listCustomers } from '../src/models/customers.js';
import { exportVisits, listVisits, parseVisitQuery } from '../src/models/visits.js';
import { AppProcess, tempDir } from './support/app.js';
import { createDatabase, queryOnce } from './support/db.js';

/**
 * The search columns (visits.search, customers.search, kept by triggers) must find
 * exactly what plain ILIKE on each part finds: notes, the customer's and the
 * salesperson's names for visits; name, e-mail and the company's name for customers.
 * Checked on a sample with mixed case, non-ASCII letters, LIKE's own characters, line
 * breaks and the columns' separator (U+001F), after renames, moves and edits made once
 * the visits existed.
 */
describe('search columns: the same matches as ILIKE on each part', () => {
  let databaseUrl: string;
  let db: pg.Pool;
  const sql = <T extends object>(text: string, params: unknown[] = []) => queryOnce<T & Record<string, unknown>>(databaseUrl, text, params);
  const ids = async (text: string, params: unknown[]) => (await sql<{ id: number }>(text, params)).map((r) => r.id);

  const SALESPEOPLE = ['Ana Seller', 'HUGO Boss', 'Jürgen Müller', 'Σίσυφος Ζ', 'under_score', 'per%cent'];
  const COMPANIES = ['Acme', 'Straße AG', 'ÅSA Ltd', '100% Co', 'back\\slash'];
  const CUSTOMERS = ['Ana Smith', 'ANA SMYTH', 'Hugo García', 'ÉLODIE Brun', 'İlker Åström', 'x_y%z', 'tab\there', 'sep\u001fname', 'Zoë'];
  const NOTES = ['Renewal talk', 'price 50% off', 'line1\nline2', 'a\u001fb', '', 'ana', 'MÜLLER called', 'ends with sm'];
  const QUERIES = [
    'ana', 'ANA SM', 'smith', 'hugo', 'müller', 'MÜLLER', 'σίσυφος', 'ΣΊΣΥΦΟΣ', 'garcía', 'élodie', 'ilker', 'åström', 'straße', 'STRASSE', 'åsa',
    '50%', '%', '_', 'x_y', 'r_score', '\\', 'back\\s', 'line1\nline2', '1\nl', 'b\th', 'a\u001fb', 'sep\u001fname', '\u001f', 'sm\u001fana', 'talk\u001fana',
    'renewal', 'called', 'seller', 'boss', 'acme', 'co', 'zoë', 'ZOË', 'rita', 'renamed', 'newname', 'moved corp', 'e', 'zzqx', '@x.test', 'mail',
  ];

  before(async function () {
    this.timeout(120_000);
    databaseUrl = await createDatabase('search');
    // A server's start applies the migrations; the models are then used directly.
    await (await AppProcess.startHealthy(databaseUrl, tempDir('uploads'))).stop();
    db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    await sql(`INSERT INTO users (username, display_name, password_hash) SELECT 'u' || i, n, 'x' FROM unnest($1::text[]) WITH ORDINALITY AS t(n, i)`, [SALESPEOPLE]);
    await sql(`INSERT INTO companies (name) SELECT unnest($1::text[])`, [COMPANIES]);
    await sql(
      `INSERT INTO customers (company_id, name, email)
       SELECT (SELECT id FROM companies ORDER BY id OFFSET (i - 1) % $2 LIMIT 1), n, lower(regexp_replace(n, '\\W', '', 'g')) || i || '@x.test'
       FROM unnest($1::text[]) WITH ORDINALITY AS t(n, i)`,
      [CUSTOMERS, COMPANIES.length],
    );
    // Every customer visited by every salesperson, notes in turn.
    await sql(
      `INSERT INTO visits (customer_id, salesperson_id, visit_date, notes)
       SELECT c.id, u.id, date '2025-01-01' + (c.id * 7 + u.id) % 90, ($1::text[])[(c.id + u.id) % array_length($1::text[], 1) + 1]
       FROM customers c, users u WHERE u.username <> 'admin'`,
      [NOTES],
    );
    // Changes after the visits exist: renames (carried into visits.search and
    // customers.search by triggers), a visit moved to another customer and salesperson,
    // notes edited, a customer moved to another company, an e-mail changed, a visit
    // marked done (no part changes), a customer archived.
    await sql("UPDATE customers SET name = 'Renamed Rita' WHERE name = 'Ana Smith'");
    await sql("UPDATE users SET display_name = 'Zed Newname' WHERE display_name = 'HUGO Boss'");
    await sql("UPDATE companies SET name = 'Moved Corp' WHERE name = 'Acme'");
    await sql(`UPDATE visits SET customer_id = (SELECT id FROM customers WHERE name = 'Zoë'), salesperson_id = (SELECT id FROM users WHERE display_name = 'per%cent')
               WHERE id = (SELECT min(id) FROM visits WHERE customer_id = (SELECT id FROM customers WHERE name = 'Hugo García'))`);
    await sql("UPDATE visits SET notes = 'ana rewritten' WHERE id IN (SELECT id FROM visits ORDER BY id DESC LIMIT 3)");
    await sql("UPDATE customers SET company_id = (SELECT id FROM companies WHERE name = '100% Co') WHERE name = 'ÉLODIE Brun'");
    await sql("UPDATE customers SET email = 'newmail@x.test' WHERE name = 'Zoë'");
    await sql('UPDATE visits SET done = true WHERE id % 2 = 0');
    await sql("UPDATE customers SET archived_at = now() WHERE name = 'x_y%z'");
  });
  after(() => db?.end());

  /**
   * For every sample query: the rows `reference` (plain ILIKE, the list's order) finds
   * are those the app's export lists, and its first page and count agree. Returns how
   * many queries matched something.
   */
  const sameAsIlike = async (reference: string, app: (q: string) => Promise<{ exported: { id: number }[]; page: Page<{ id: number }> }>) => {
    let matched = 0;
    for (const q of QUERIES) {
      const expected = await ids(reference, [containsPattern(q)]);
      const { exported, page } = await app(q);
      assert.deepEqual(exported.map((r) => r.id), expected, `export ${JSON.stringify(q)}`);
      assert.deepEqual([page.total, page.items.map((r) => r.id)], [expected.length, expected.slice(0, 20)], `page ${JSON.stringify(q)}`);
      if (expected.length) matched++;
    }
    return matched;
  };

  it('every visit is found exactly when its notes, customer name or salesperson name match ILIKE, in the list order', async () => {
    const matched = await sameAsIlike(
      `SELECT v.id FROM visits v JOIN customers c ON c.id = v.customer_id JOIN users u ON u.id = v.salesperson_id
       WHERE v.notes ILIKE $1 OR c.name ILIKE $1 OR u.display_name ILIKE $1 ORDER BY v.visit_date DESC, v.id DESC`,
      async (q) => {
        const query = parseVisitQuery({ q }, 0);
        assert.equal(query.q, q, 'the sample has no surrounding blanks');
        return { exported: await exportVisits(db, query), page: await listVisits(db, query) };
      },
    );
    assert.ok(matched > QUERIES.length / 2, `most sample queries match something (${matched})`);
  });

  it('every current customer is found exactly when its name, e-mail or company name match ILIKE, in the list order', async () => {
    const matched = await sameAsIlike(
      `SELECT c.id FROM customers c JOIN companies co ON co.id = c.company_id
       WHERE c.archived_at IS NULL AND (c.name ILIKE $1 OR c.email ILIKE $1 OR co.name ILIKE $1) ORDER BY c.name, c.id`,
      async (q) => {
        const list = { q, page: 1, archived: false };
        return { exported: await exportCustomers(db, list), page: await listCustomers(db, list) };
      },
    );
    assert.ok(matched > QUERIES.length / 3, `many sample queries match something (${matched})`);
  });

  it('a text containing the separator is not matched across two parts', async () => {
    // "ends with sm" + U+001F + "ana smyth": the search column alone would match.
    const [across] = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM visits WHERE search LIKE lower($1)`, [containsPattern('sm\u001fana')]);
    assert.ok(across!.n > 0, 'the column alone matches across the separator');
    assert.equal((await listVisits(db, parseVisitQuery({ q: 'sm\u001fana' }, 0))).total, 0);
  });

  it('the columns hold what their parts make after every change, and are never empty', async () => {
    const [stale] = await sql<{ visits: number; customers: number }>(
      `SELECT (SELECT count(*)::int FROM visits WHERE search IS DISTINCT FROM visit_search_text(notes, customer_id, salesperson_id)) AS visits,
              (SELECT count(*)::int FROM customers WHERE search IS DISTINCT FROM customer_search_text(name, email, company_id)) AS customers`,
    );
    assert.deepEqual(stale, { visits: 0, customers: 0 });
    // Emptied by hand, a column is filled again by its trigger; the CHECK refuses an empty one.
    const [refilled] = await sql<{ search: string | null }>('UPDATE visits SET search = NULL WHERE id = (SELECT min(id) FROM visits) RETURNING search');
    assert.ok(refilled!.search);
    await assert.rejects(
      sql("ALTER TABLE customers DISABLE TRIGGER customers_search_fill; UPDATE customers SET search = NULL WHERE name = 'Zoë'"),
      /customers_search_filled/,
    );
  });
});
