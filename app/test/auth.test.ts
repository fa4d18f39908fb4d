import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PER_USERNAME, refundAttempt, reserveAttempt, usernameKey, type Slot } from '../src/models/loginThrottle.js';
import { ADMIN_PASSWORD, AppProcess, appEnv, freePort, tempDir } from './support/app.js';
import { Client, csrfToken } from './support/client.js';
import { createDatabase, queryOnce } from './support/db.js';
import { createUser } from './support/fixtures.js';

/** A new salesperson, and the browser at `address` where they signed in (and out): a known device. */
async function userWithLaptop(url: string, username: string, address: string): Promise<Client> {
  const admin = new Client(url);
  await admin.login('admin', ADMIN_PASSWORD);
  await createUser(admin, username, `${username}-password`, 'salesperson');
  const laptop = new Client(url);
  laptop.forwardedFor = address;
  await laptop.login(username, `${username}-password`);
  await laptop.submit('/customers', '/logout', {});
  return laptop;
}

/** A client that has loaded the sign-in form from `address` (and so holds its token). */
async function signInForm(url: string, address: string): Promise<{ client: Client; token: string }> {
  const client = new Client(url);
  client.forwardedFor = address;
  return { client, token: csrfToken(await client.text('/login')) };
}

describe('signing in and form protection', () => {
  let app: AppProcess;
  let databaseUrl: string;

  before(async () => {
    databaseUrl = await createDatabase('auth');
    app = await AppProcess.startHealthy(databaseUrl, tempDir('uploads'));
  });
  after(() => app.stop());

  it('refuses a wrong password with a message on the form', async () => {
    const res = await new Client(app.url).submit('/login', '/login', { username: 'admin', password: 'wrong-password' });
    assert.equal(res.status, 401);
    assert.match(await res.text(), /Wrong username or password/);
  });

  it('rejects a form post without the CSRF token, even when signed in', async () => {
    const client = new Client(app.url);
    await client.login('admin', ADMIN_PASSWORD);
    const res = await fetch(`${app.url}/companies`, {
      method: 'POST',
      headers: { cookie: client.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=Forged',
      redirect: 'manual',
    });
    assert.equal(res.status, 403);
    assert.doesNotMatch(await client.text('/companies'), /Forged/);
  });

  it('refuses a sign-in posted from another site (no token bound to this browser)', async () => {
    const { token } = await signInForm(app.url, '10.1.0.1');
    // The attacker's page can fetch a token of its own, but not the victim's cookie.
    const victim = new Client(app.url);
    assert.equal((await victim.post('/login', { username: 'admin', password: ADMIN_PASSWORD }, token)).status, 403);
    assert.equal((await victim.post('/login', { username: 'admin', password: ADMIN_PASSWORD })).status, 403);
  });

  it('stores no session for anonymous visitors, one once signed in', async () => {
    const sessions = async () => (await queryOnce<{ n: number }>(databaseUrl, 'SELECT count(*)::int AS n FROM session'))[0]?.n;
    await queryOnce(databaseUrl, 'DELETE FROM session');
    const visitor = new Client(app.url);
    for (const path of ['/login', '/login?next=/visits', '/customers', '/', '/nowhere']) await visitor.get(path);
    await new Client(app.url).get('/login');
    assert.equal(await sessions(), 0);
    assert.equal((await visitor.submit('/login', '/login', { username: 'admin', password: 'wrong-password' })).status, 401);
    assert.equal(await sessions(), 0, 'a failed sign-in stores nothing either');
    await visitor.login('admin', ADMIN_PASSWORD);
    assert.equal(await sessions(), 1);
  });

  it('ignores cookies that are not valid percent-encoding instead of failing', async () => {
    const client = new Client(app.url);
    client.cookie = 'crm.pre=%E0%A4%A; crm.device=%E0%A4%A';
    const form = await client.get('/login');
    assert.equal(form.status, 200);
    // A fresh pre-session cookie replaced the undecodable one; the device mark is still sent.
    assert.equal((await client.post('/login', { username: 'admin', password: ADMIN_PASSWORD }, csrfToken(await form.text()))).status, 303);
  });

  it('signs out: the old session cookie no longer works', async () => {
    const client = new Client(app.url);
    await client.login('admin', ADMIN_PASSWORD);
    const cookie = client.cookie;
    assert.equal((await client.submit('/customers', '/logout', {})).status, 303);
    client.cookie = cookie;
    assert.equal((await client.get('/customers')).status, 303, 'redirected to sign in');
  });
});

describe('sign-in limits', () => {
  let app: AppProcess;
  let databaseUrl: string;

  beforeEach(async () => {
    databaseUrl = await createDatabase('limits');
    app = await AppProcess.startHealthy(databaseUrl, tempDir('uploads'));
  });
  afterEach(() => app.stop());

  it('60 parallel guesses at one username, spread over two servers, get at most 6 password checks, the rest 429 with Retry-After', async () => {
    // A second server on the same database: the count is shared through PostgreSQL.
    const second = await AppProcess.startHealthy(databaseUrl, tempDir('uploads'));
    const urls = [app.url, second.url];
    const forms = await Promise.all(Array.from({ length: 60 }, (_, i) => signInForm(urls[i % 2]!, `10.2.${i}.1`)));
    const results = await Promise.all(
      forms.map(async ({ client, token }, i) => {
        const res = await client.post('/login', { username: 'admin', password: `guess-${i}` }, token);
        return { status: res.status, retryAfter: Number(res.headers.get('retry-after')) };
      }),
    );
    const count = (status: number) => results.filter((r) => r.status === status).length;
    // 5 free failures per username, then a wait: only the 6th may still be checked.
    assert.ok(count(401) >= 5 && count(401) <= 6, `password checks: ${count(401)}`);
    assert.equal(count(401) + count(429), 60, `statuses: ${results.map((r) => r.status).join(' ')}`);
    assert.ok(results.filter((r) => r.status === 429).every((r) => r.retryAfter >= 1 && r.retryAfter <= 30));
    await second.stop();
  });

  it('slows the guesser without locking the user out', async () => {
    const alicesLaptop = await userWithLaptop(app.url, 'alice', '10.3.0.1');

    for (let i = 0; i < 12; i++) {
      const { client, token } = await signInForm(app.url, `10.4.${i}.1`);
      await client.post('/login', { username: 'alice', password: `guess-${i}` }, token);
    }
    // Her own browser is known: no wait at all.
    await alicesLaptop.login('alice', 'alice-password');
    // From a new browser she waits at most the few seconds the server names, then gets in.
    const { client: phone, token } = await signInForm(app.url, '10.5.0.1');
    const first = await phone.post('/login', { username: 'alice', password: 'alice-password' }, token);
    if (first.status === 429) {
      const wait = Number(first.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 30, `Retry-After ${wait}`);
      await sleep(wait * 1000 + 200);
      await phone.login('alice', 'alice-password');
    } else {
      assert.equal(first.status, 303);
    }
  });

  it('a known device skips the address and username waits, until the password changes', async () => {
    const laptop = await userWithLaptop(app.url, 'dora', '10.8.0.1');
    // Someone made her username wait, and her office's address (one NAT for everyone there).
    const block = (key: string) =>
      queryOnce(
        databaseUrl,
        `INSERT INTO login_throttle (key, failures, window_start, blocked_until) VALUES ($1, 50, now(), now() + interval '5 minutes')
         ON CONFLICT (key) DO UPDATE SET failures = 50, blocked_until = excluded.blocked_until`,
        [key],
      );
    await block('user:dora');
    await block('ip:10.8.0.1');
    const { client: colleague, token } = await signInForm(app.url, '10.8.0.1');
    assert.equal((await colleague.post('/login', { username: 'admin', password: ADMIN_PASSWORD }, token)).status, 429, 'an unknown browser there waits');
    await laptop.login('dora', 'dora-password');

    // A new password: the mark her laptop holds was bound to the old one.
    const changed = await laptop.submit('/account', '/account/password', { current_password: 'dora-password', password: 'dora-password-2', confirm: 'dora-password-2' });
    assert.equal(changed.status, 303);
    await laptop.submit('/customers', '/logout', {});
    await block('user:dora');
    laptop.forwardedFor = '10.8.0.2';
    const again = await laptop.submit('/login', '/login', { username: 'dora', password: 'dora-password-2' });
    assert.equal(again.status, 429, 'the old mark no longer skips the username wait');
  });

  it('a refunded attempt (the server was busy) takes back the wait it set', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    try {
      const key = usernameKey('busy');
      let last: Slot | undefined;
      for (let i = 0; i <= PER_USERNAME.free; i++) {
        const reservation = await reserveAttempt(pool, key, PER_USERNAME);
        assert.ok(reservation.ok);
        last = reservation.slot;
      }
      // The first failure past the free ones set a wait; the server was busy and refunded it.
      assert.equal((await reserveAttempt(pool, key, PER_USERNAME)).ok, false);
      await refundAttempt(pool, last!);
      assert.equal((await reserveAttempt(pool, key, PER_USERNAME)).ok, true, 'no wait left behind');
    } finally {
      await pool.end();
    }
  });

  it('never refuses correct sign-ins arriving together from one address', async () => {
    // One browser (known device, pre-session cookie and token replayed) signing in 10
    // at a time: concurrent reservations on one key must not see each other's waits.
    const browser = new Client(app.url);
    await browser.login('admin', ADMIN_PASSWORD);
    const cookie = browser.cookie.split('; ').filter((c) => !c.startsWith('crm.sid=')).join('; ');
    const form = csrfToken(await (await fetch(`${app.url}/login`, { headers: { cookie } })).text());
    const body = new URLSearchParams({ _csrf: form, username: 'admin', password: ADMIN_PASSWORD }).toString();
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          fetch(`${app.url}/login`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body }),
        ),
      );
      statuses.push(...answers.map((r) => r.status));
    }
    assert.deepEqual(statuses, Array(30).fill(303));
  });

  it('makes one address wait after 20 failures, whatever the usernames and forged X-Forwarded-For, and not others', async () => {
    // Each guess forges another address in front of the one the balancer appends.
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) {
      const { client, token } = await signInForm(app.url, `10.9.${i}.1, 10.6.0.1`);
      statuses.push((await client.post('/login', { username: `nobody-${i}`, password: 'guess' }, token)).status);
    }
    assert.deepEqual(statuses.slice(0, 21), Array(21).fill(401), '20 free failures, then the first one that sets the wait');
    assert.equal(statuses[21], 429);
    // Naming the waiting address does not make another client wait.
    const { client, token } = await signInForm(app.url, '10.6.0.1, 10.6.0.2');
    assert.equal((await client.post('/login', { username: 'admin', password: ADMIN_PASSWORD }, token)).status, 303);
  });

  it('trusts no X-Forwarded-For unless told how many proxies are in front (TRUST_PROXY_HOPS)', async () => {
    const env = appEnv(databaseUrl, tempDir('uploads'), await freePort());
    delete env.TRUST_PROXY_HOPS;
    const direct = AppProcess.start(env);
    try {
      await direct.waitHealthy();
      await queryOnce(databaseUrl, "INSERT INTO login_throttle (key, failures, window_start, blocked_until) VALUES ('ip:127.0.0.1', 50, now(), now() + interval '5 minutes')");
      const { client, token } = await signInForm(direct.url, '10.6.0.3');
      assert.equal((await client.post('/login', { username: 'admin', password: ADMIN_PASSWORD }, token)).status, 429, 'counted on the connection\'s address');
    } finally {
      await direct.stop();
    }
  });

  it('keeps /healthz and pages answering in time during 50 concurrent sign-ins', async () => {
    const forms = await Promise.all(Array.from({ length: 50 }, (_, i) => signInForm(app.url, `10.7.${i}.1`)));
    const reader = new Client(app.url);
    await reader.login('admin', ADMIN_PASSWORD);
    let flooding = true;
    const started = Date.now();
    const flood = Promise.all(
      forms.map(({ client, token }, i) => client.post('/login', { username: `user-${i}`, password: 'guess-password' }, token).then((r) => r.status)),
    ).finally(() => (flooding = false));
    const probes: { what: string; status: number; ms: number }[] = [];
    while (flooding && Date.now() - started < 30_000) {
      for (const [what, get] of [
        ['healthz', () => fetch(`${app.url}/healthz`, { signal: AbortSignal.timeout(5000) })],
        ['page', () => reader.get('/customers')],
      ] as const) {
        const t0 = Date.now();
        const res = await get();
        probes.push({ what, status: res.status, ms: Date.now() - t0 });
      }
      await sleep(50);
    }
    const statuses = await flood;
    const floodMs = Date.now() - started;
    assert.equal(statuses.filter((s) => s === 401).length, 50, `every sign-in was checked: ${statuses.join(' ')}`);
    assert.ok(probes.length >= 10, `probed ${probes.length} times during ${floodMs} ms`);
    const worst = (what: string) => Math.max(...probes.filter((p) => p.what === what).map((p) => p.ms));
    console.log(`      50 sign-ins took ${floodMs} ms; slowest /healthz ${worst('healthz')} ms, slowest page ${worst('page')} ms (${probes.length} probes)`);
    assert.ok(probes.every((p) => p.status === 200), `probe statuses: ${probes.map((p) => `${p.what}:${p.status}`).join(' ')}`);
    // HAProxy's health check gives up after 1 s (inter 1s) and /healthz gives its own
    // checks 1 s; pages have 30 s (timeout server), but should stay far below that.
    assert.ok(worst('healthz') < 1000, `slowest /healthz ${worst('healthz')} ms`);
    assert.ok(worst('page') < 2000, `slowest page ${worst('page')} ms`);
  });
});

describe('session lifetime', () => {
  let app: AppProcess | undefined;
  afterEach(() => app?.stop());

  async function startWith(extra: NodeJS.ProcessEnv): Promise<AppProcess> {
    const env = { ...appEnv(await createDatabase('lifetime'), tempDir('uploads'), await freePort()), ...extra };
    const started = AppProcess.start(env);
    await started.waitHealthy();
    return started;
  }

  it('signs out a session left idle longer than SESSION_IDLE_SECONDS', async () => {
    app = await startWith({ SESSION_IDLE_SECONDS: '2' });
    const client = new Client(app.url);
    await client.login('admin', ADMIN_PASSWORD);
    for (let i = 0; i < 4; i++) {
      await sleep(800);
      assert.equal((await client.get('/customers')).status, 200, 'active use keeps the session');
    }
    await sleep(2500);
    assert.equal((await client.get('/customers')).status, 303, 'idle too long: sent to sign in');
  });

  it('signs out after SESSION_MAX_SECONDS however active', async () => {
    // Requests every 0.5 s, more often than the 2 s idle limit: the last-seen time is
    // saved again and again, and each save moves the row's and the cookie's expiry on.
    app = await startWith({ SESSION_IDLE_SECONDS: '2', SESSION_MAX_SECONDS: '4' });
    const client = new Client(app.url);
    await client.login('admin', ADMIN_PASSWORD);
    const signedIn = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - signedIn < 8000) {
      await sleep(500);
      status = (await client.get('/customers')).status;
    }
    const after = Date.now() - signedIn;
    assert.equal(status, 303, 'signed out');
    assert.ok(after >= 3500 && after < 5500, `signed out ${after} ms after sign-in, not at the 4 s limit`);
  });
});
