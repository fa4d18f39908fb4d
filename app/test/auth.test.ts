import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, AppProcess, tempDir } from './support/app.js';
import { Client } from './support/client.js';
import { createDatabase } from './support/db.js';

describe('signing in and form protection', () => {
  let app: AppProcess;

  before(async () => {
    app = await AppProcess.startHealthy(await createDatabase('auth'), tempDir('uploads'));
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

  it('signs out: the old session cookie no longer works', async () => {
    const client = new Client(app.url);
    await client.login('admin', ADMIN_PASSWORD);
    const cookie = client.cookie;
    assert.equal((await client.submit('/customers', '/logout', {})).status, 303);
    client.cookie = cookie;
    assert.equal((await client.get('/customers')).status, 303, 'redirected to sign in');
  });

  it('locks a username for 15 minutes after 10 failed attempts, even with the right password', async () => {
    await app.stop();
    app = await AppProcess.startHealthy(await createDatabase('lockout'), tempDir('uploads'));
    for (let i = 0; i < 10; i++) {
      const res = await new Client(app.url).submit('/login', '/login', { username: 'admin', password: `guess-${i}` });
      assert.equal(res.status, 401);
    }
    const res = await new Client(app.url).submit('/login', '/login', { username: 'admin', password: ADMIN_PASSWORD });
    assert.equal(res.status, 429);
    assert.match(await res.text(), /Too many failed attempts/);
  });
});
