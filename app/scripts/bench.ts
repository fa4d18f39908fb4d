// Measures searches, lists and sign-ins against one server on 127.0.0.1 with 100,000
// customers and 200,000 visits. Run through scripts/bench.sh, which provides the database.
import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { ADMIN_PASSWORD, AppProcess, tempDir } from '../test/support/app.js';
import { Client, csrfToken } from '../test/support/client.js';
import { createDatabase, queryOnce } from '../test/support/db.js';
import { CUSTOMERS, seed, VISITS } from './benchSeed.js';

const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const WARMUP_REQUESTS = 200;
interface Row {
  endpoint: string;
  /** CPU time of the server and its database sessions per request, in ms. */
  cpuMs: number;
  /** The machine's 1-minute load average at the end of the row (other jobs share it). */
  load: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** The unexpected answers, e.g. "429 x3, timeout x1". */
  detail: string;
}

/**
 * Nanoseconds a process has run on a CPU (Linux schedstat), summed over its threads
 * (scrypt and file work run on Node's libuv threads), 0 once it is gone.
 */
function cpuNs(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).reduce((ns, tid) => ns + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]), 0);
  } catch {
    return 0;
  }
}

/**
 * CPU time spent by the server and its database sessions, per process. Latencies on a
 * machine shared with other jobs say as much about those jobs as about the app; the
 * CPU time a request costs does not (much), so each row reports both.
 */
async function cpuSample(databaseUrl: string, serverPid: number): Promise<Map<number, number>> {
  // Client sessions only: an autovacuum worker tidying up after the seed is no request's cost.
  const backends = await queryOnce<{ pid: number }>(
    databaseUrl,
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
  );
  return new Map([serverPid, ...backends.map((b) => b.pid)].map((pid) => [pid, cpuNs(pid)]));
}

/** ms of CPU between two samples; a session opened in between counts from zero. */
function cpuSpentMs(before: Map<number, number>, after: Map<number, number>): number {
  let ns = 0;
  for (const [pid, end] of after) ns += end - (before.get(pid) ?? 0);
  return ns / 1e6;
}

interface Target {
  databaseUrl: string;
  serverPid: number;
}

async function measure(target: Target, endpoint: string, opts: autocannon.Options, okStatus = 200): Promise<Row> {
  const before = await cpuSample(target.databaseUrl, target.serverPid);
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION_S, ...opts });
  const cpu = cpuSpentMs(before, await cpuSample(target.databaseUrl, target.serverPid));
  // A redirect to /login, a 429 or a 503 would make the figures meaningless, so count them.
  const stats = result.statusCodeStats as Record<string, { count: number }>;
  const unexpected = Object.entries(stats).filter(([code]) => Number(code) !== okStatus);
  const wrong = unexpected.reduce((n, [, s]) => n + s.count, 0);
  const detail = [
    ...unexpected.map(([code, s]) => `${code} x${s.count}`),
    ...(result.timeouts ? [`timeout x${result.timeouts}`] : []),
    ...(result.errors - result.timeouts > 0 ? [`error x${result.errors - result.timeouts}`] : []),
  ].join(', ');
  return {
    detail,
    endpoint,
    cpuMs: cpu / Math.max(1, result.requests.total),
    load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '?',
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
    const target = { databaseUrl, serverPid: app.pid ?? 0 };
    const signIn = new Client(app.url);
    await signIn.login('admin', ADMIN_PASSWORD);
    signIn.cookie = signIn.cookie.split('; ').filter((c) => !c.startsWith('crm.sid=')).join('; ');
    const token = csrfToken(await signIn.text('/login'));
    const body = new URLSearchParams({ _csrf: token, username: 'admin', password: ADMIN_PASSWORD }).toString();

    const specs: [endpoint: string, opts: autocannon.Options, okStatus?: number][] = [
      ['GET /customers?q=garc (customers search)', page('/customers?q=garc')],
      ['GET /customers?q=ana smith (customers search)', page('/customers?q=ana%20smith')],
      ['GET /visits?q=renewal (visits search)', page('/visits?q=renewal')],
      ['GET /visits?q=hugo (visits search, by customer)', page('/visits?q=hugo')],
      // A word in no note and no name: ORed, the arms could use no index and read every visit.
      ['GET /visits?q=zzqx (visits search, no match)', page('/visits?q=zzqx')],
      ['GET /visits (visit list, page 1)', page('/visits')],
      ['GET /visits?page=200 (visit list, page 200)', page('/visits?page=200')],
      ["GET /visits?salesperson=2&status=pending (one salesperson's pending)", page('/visits?salesperson=2&status=pending')],
      ['GET /customers (customer list, page 1)', page('/customers')],
      [
        'POST /login (sign-ins)',
        { url: `${app.url}/login`, method: 'POST', headers: { cookie: signIn.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body },
        303,
      ],
      ['GET /healthz', { url: `${app.url}/healthz` }],
    ];
    // BENCH_ONLY=visits measures only the endpoints whose name contains that text.
    const only = process.env.BENCH_ONLY ?? '';
    const selected = specs.filter(([endpoint]) => !only || endpoint.includes(only));
    // Warm-up, unmeasured: the first requests run the server's code unoptimised (V8
    // compiles hot functions after a while) and fill the sessions' caches, which made
    // whichever row came first cost 2-3 times the CPU of a later run of it.
    for (const [, opts, okStatus] of selected) if (okStatus === undefined) await autocannon({ connections: CONNECTIONS, amount: WARMUP_REQUESTS, ...opts });
    const rows: Row[] = [];
    for (const [endpoint, opts, okStatus] of selected) rows.push(await measure(target, endpoint, opts, okStatus));
    const [{ n } = { n: 0 }] = await queryOnce<{ n: number }>(databaseUrl, 'SELECT count(*)::int AS n FROM customers');
    console.log(`\n${n} customers, ${VISITS} visits, ${CONNECTIONS} connections, ${DURATION_S} s each, one server, Node ${process.version}\n`);
    console.log('| endpoint | requests/s | p50 ms | p99 ms | CPU ms/request (server + database) | load average | unexpected status/errors |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      console.log(`| ${r.endpoint} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.cpuMs.toFixed(1)} | ${r.load} | ${r.errors}${r.detail ? ` (${r.detail})` : ''} |`);
    }
    if (rows.some((r) => r.errors > 0)) process.exitCode = 1;
  } finally {
    await app.stop();
  }
}

await main();
