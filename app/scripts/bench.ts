// Measures searches, lists and sign-ins against one server on 127.0.0.1 with 100,000
// customers and 200,000 visits. Run through scripts/bench.sh, which provides the database.
import autocannon from 'autocannon';
import { ADMIN_PASSWORD, AppProcess, tempDir } from '../test/support/app.js';
import { Client, csrfToken } from '../test/support/client.js';
import { createDatabase, queryOnce } from '../test/support/db.js';

const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const CUSTOMERS = 100_000;
const VISITS = 200_000;
const COMPANIES = 1_000;
const SALESPEOPLE = 20;

const FIRST = ['Ana', 'Ben', 'Carla', 'David', 'Elena', 'Felix', 'Grace', 'Hugo', 'Irene', 'Jorge', 'Karin', 'Luis', 'Marta', 'Nico', 'Olga', 'Pablo', 'Rosa', 'Sven', 'Tina', 'Victor'];
const LAST = ['Garcia', 'Smith', 'Müller', 'Rossi', 'Dubois', 'Novak', 'Silva', 'Jensen', 'Kowalski', 'Ivanova', 'Santos', 'Weber', 'Moreau', 'Bianchi', 'Fischer', 'Lopez', 'Nilsen', 'Horvat', 'Costa', 'Meyer'];
const WORDS = ['renewal', 'pricing', 'demo', 'support', 'contract', 'training', 'upgrade', 'feedback', 'invoice', 'meeting', 'proposal', 'delivery'];

const sqlArray = (xs: string[]) => `ARRAY[${xs.map((x) => `'${x}'`).join(',')}]`;

async function seed(databaseUrl: string): Promise<void> {
  const q = (sql: string) => queryOnce(databaseUrl, sql);
  // Salespeople share one password hash (the admin's): seeding must not run 20 scrypts.
  await q(`INSERT INTO users (username, display_name, password_hash, role)
           SELECT 'sales' || g, (${sqlArray(FIRST)})[g] || ' Seller', (SELECT password_hash FROM users WHERE username = 'admin'), 'salesperson'
           FROM generate_series(1, ${SALESPEOPLE}) g`);
  await q(`INSERT INTO companies (name, website) SELECT 'Company ' || lpad(g::text, 4, '0'), 'https://company' || g || '.example' FROM generate_series(1, ${COMPANIES}) g`);
  await q(`INSERT INTO customers (company_id, name, email, phone)
           SELECT (g % ${COMPANIES}) + 1,
                  (${sqlArray(FIRST)})[g % 20 + 1] || ' ' || (${sqlArray(LAST)})[(g / 20) % 20 + 1] || ' ' || g,
                  'c' || g || '@example.test', '+34 600 ' || g
           FROM generate_series(1, ${CUSTOMERS}) g`);
  await q(`INSERT INTO visits (customer_id, salesperson_id, visit_date, notes, done)
           SELECT (g * 7919) % ${CUSTOMERS} + 1,
                  (SELECT min(id) FROM users WHERE role = 'salesperson') + g % ${SALESPEOPLE},
                  date '2024-01-01' + (g % 900),
                  'Talked about ' || (${sqlArray(WORDS)})[g % 12 + 1] || ' and ' || (${sqlArray(WORDS)})[(g / 12) % 12 + 1] || ', call #' || g,
                  g % 3 = 0
           FROM generate_series(1, ${VISITS}) g`);
  await q('VACUUM ANALYZE');
}

interface Row {
  endpoint: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function measure(endpoint: string, opts: autocannon.Options, okStatus = 200): Promise<Row> {
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION_S, ...opts });
  // A redirect to /login, a 429 or a 503 would make the figures meaningless, so count them.
  const stats = result.statusCodeStats as Record<string, { count: number }>;
  const wrong = Object.entries(stats).filter(([code]) => Number(code) !== okStatus).reduce((n, [, s]) => n + s.count, 0);
  return {
    endpoint,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + wrong,
  };
}

async function main(): Promise<void> {
  const databaseUrl = await createDatabase('bench');
  const app = await AppProcess.startHealthy(databaseUrl, tempDir('bench-uploads'));
  try {
    const t0 = Date.now();
    await seed(databaseUrl);
    console.log(`seeded ${CUSTOMERS} customers, ${VISITS} visits in ${Math.round((Date.now() - t0) / 1000)} s`);
    const client = new Client(app.url);
    await client.login('admin', ADMIN_PASSWORD);
    const cookie = client.cookie;
    const page = (path: string) => ({ url: `${app.url}${path}`, headers: { cookie } });

    // Sign-ins: one browser (its pre-session cookie and token are stateless, so they can
    // be replayed) that has signed in before, so only the per-address limit applies.
    const signIn = new Client(app.url);
    await signIn.login('admin', ADMIN_PASSWORD);
    signIn.cookie = signIn.cookie.split('; ').filter((c) => !c.startsWith('crm.sid=')).join('; ');
    const token = csrfToken(await signIn.text('/login'));
    const body = new URLSearchParams({ _csrf: token, username: 'admin', password: ADMIN_PASSWORD }).toString();

    const rows = [
      await measure('GET /customers?q=garc (customers search)', page('/customers?q=garc')),
      await measure('GET /customers?q=ana smith (customers search)', page('/customers?q=ana%20smith')),
      await measure('GET /visits?q=renewal (visits search)', page('/visits?q=renewal')),
      await measure('GET /visits?q=hugo (visits search, by customer)', page('/visits?q=hugo')),
      await measure('GET /visits (visit list, page 1)', page('/visits')),
      await measure('GET /visits?page=200 (visit list, page 200)', page('/visits?page=200')),
      await measure('GET /customers (customer list, page 1)', page('/customers')),
      await measure('POST /login (sign-ins)', {
        url: `${app.url}/login`,
        method: 'POST',
        headers: { cookie: signIn.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      }, 303),
      await measure('GET /healthz', { url: `${app.url}/healthz` }),
    ];
    const [{ n } = { n: 0 }] = await queryOnce<{ n: number }>(databaseUrl, 'SELECT count(*)::int AS n FROM customers');
    console.log(`\n${n} customers, ${VISITS} visits, ${CONNECTIONS} connections, ${DURATION_S} s each, one server, Node ${process.version}\n`);
    console.log('| endpoint | requests/s | p50 ms | p99 ms | unexpected status/errors |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const r of rows) console.log(`| ${r.endpoint} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} |`);
    if (rows.some((r) => r.errors > 0)) process.exitCode = 1;
  } finally {
    await app.stop();
  }
}

await main();
