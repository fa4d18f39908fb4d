// Measures the customer list page (signed in, first page, 10,000 customers) and /healthz
// against one server on 127.0.0.1. Run through scripts/bench.sh, which provides the database.
import autocannon from 'autocannon';
import { ADMIN_PASSWORD, AppProcess, tempDir } from '../test/support/app.js';
import { Client } from '../test/support/client.js';
import { createDatabase, queryOnce } from '../test/support/db.js';

const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const CUSTOMERS = 10_000;

async function seed(databaseUrl: string): Promise<void> {
  await queryOnce(databaseUrl, `INSERT INTO companies (name) SELECT 'Company ' || g FROM generate_series(1, 100) g`);
  await queryOnce(
    databaseUrl,
    `INSERT INTO customers (company_id, name, email, phone)
     SELECT (g % 100) + 1, 'Customer ' || lpad(g::text, 5, '0'), 'c' || g || '@example.test', '+34 600 ' || g
     FROM generate_series(1, $1::int) g`,
    [CUSTOMERS],
  );
  await queryOnce(databaseUrl, 'ANALYZE');
}

interface Row {
  endpoint: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function measure(endpoint: string, url: string, cookie?: string): Promise<Row> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION_S,
    headers: cookie ? { cookie } : {},
  });
  // A redirect to /login or a 503 would make the figures meaningless, so count them.
  return {
    endpoint,
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function main(): Promise<void> {
  const databaseUrl = await createDatabase('bench');
  const app = await AppProcess.startHealthy(databaseUrl, tempDir('bench-uploads'));
  try {
    await seed(databaseUrl);
    const client = new Client(app.url);
    await client.login('admin', ADMIN_PASSWORD);
    const rows = [
      await measure('GET /customers (signed in, page 1 of 500)', `${app.url}/customers`, client.cookie),
      await measure('GET /healthz', `${app.url}/healthz`),
    ];
    console.log(`\n${CUSTOMERS} customers, ${CONNECTIONS} connections, ${DURATION_S} s each, one server, Node ${process.version}\n`);
    console.log('| endpoint | requests/s | p50 ms | p99 ms | non-2xx/errors |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const r of rows) console.log(`| ${r.endpoint} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} |`);
    if (rows.some((r) => r.errors > 0)) process.exitCode = 1;
  } finally {
    await app.stop();
  }
}

await main();
