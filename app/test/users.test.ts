import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, AppProcess, tempDir } from './support/app.js';
import { Client } from './support/client.js';
import { createDatabase } from './support/db.js';
import { createUser } from './support/fixtures.js';
import { solidPng } from './support/images.js';

describe('user accounts', () => {
  let app: AppProcess;
  let admin: Client;

  before(async () => {
    app = await AppProcess.startHealthy(await createDatabase('users'), tempDir('uploads'));
    admin = new Client(app.url);
    await admin.login('admin', ADMIN_PASSWORD);
  });
  after(() => app.stop());

  const signedIn = async (c: Client) => (await c.get('/customers')).status === 200;
  const signInStatus = async (username: string, password: string) =>
    (await new Client(app.url).submit('/login', '/login', { username, password })).status;

  async function apiToken(c: Client): Promise<string> {
    const m = /id="new-token">(crm_[A-Za-z0-9_-]+)</.exec(await (await c.submit('/tokens', '/tokens', { name: 'script' })).text());
    assert.ok(m?.[1]);
    return m[1];
  }
  const apiStatus = async (token: string) => (await fetch(`${app.url}/api/v1/customers`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('disabling a user ends their session and API tokens at once, and refuses their sign-in', async () => {
    const id = await createUser(admin, 'dora', 'dora-password', 'salesperson');
    const dora = new Client(app.url);
    await dora.login('dora', 'dora-password');
    const token = await apiToken(dora);
    assert.equal(await apiStatus(token), 200);

    assert.equal((await admin.submit('/users', `/users/${id}/disable`, {})).status, 303);
    assert.equal(await signedIn(dora), false, 'the open session no longer works');
    assert.equal(await apiStatus(token), 401, 'the token no longer works');
    assert.equal(await signInStatus('dora', 'dora-password'), 401);
    assert.match(await admin.text('/users?q=dora'), /Disabled/);

    assert.equal((await admin.submit('/users', `/users/${id}/enable`, {})).status, 303);
    assert.equal(await signInStatus('dora', 'dora-password'), 303, 're-enabled: signs in again');
  });

  it('a user changes their own password only with the current one; other sessions end', async () => {
    await createUser(admin, 'eve', 'eve-password', 'salesperson');
    const laptop = new Client(app.url);
    const phone = new Client(app.url);
    await laptop.login('eve', 'eve-password');
    await phone.login('eve', 'eve-password');

    const wrong = await laptop.submit('/account', '/account/password', { current_password: 'not-it', password: 'eve-new-password', confirm: 'eve-new-password' });
    assert.equal(wrong.status, 422);
    assert.match(await wrong.text(), /The current password is wrong/);
    const mismatch = await laptop.submit('/account', '/account/password', { current_password: 'eve-password', password: 'eve-new-password', confirm: 'other' });
    assert.equal(mismatch.status, 422);

    const ok = await laptop.submit('/account', '/account/password', { current_password: 'eve-password', password: 'eve-new-password', confirm: 'eve-new-password' });
    assert.equal(ok.status, 303);
    assert.equal(await signedIn(laptop), true, 'this session stays');
    assert.equal(await signedIn(phone), false, 'the other session is signed out');
    assert.equal(await signInStatus('eve', 'eve-password'), 401);
    assert.equal(await signInStatus('eve', 'eve-new-password'), 303);
  });

  it('an administrator resets a password: the old one and the user\'s sessions stop working', async () => {
    const id = await createUser(admin, 'finn', 'finn-password', 'salesperson');
    const finn = new Client(app.url);
    await finn.login('finn', 'finn-password');
    assert.equal((await admin.submit(`/users/${id}/password`, `/users/${id}/password`, { password: 'finn-reset-password' })).status, 303);
    assert.equal(await signedIn(finn), false);
    assert.equal(await signInStatus('finn', 'finn-password'), 401);
    assert.equal(await signInStatus('finn', 'finn-reset-password'), 303);
  });

  it('an administrator edits name and role, which takes effect on the next request', async () => {
    const id = await createUser(admin, 'gus', 'gus-password', 'salesperson');
    const gus = new Client(app.url);
    await gus.login('gus', 'gus-password');
    assert.equal((await gus.get('/companies/new')).status, 403, 'a salesperson cannot create companies');
    const res = await admin.submit(`/users/${id}/edit`, `/users/${id}`, { username: 'gus', display_name: 'Gustav', role: 'manager' });
    assert.equal(res.status, 303);
    assert.equal((await gus.get('/companies/new')).status, 200, 'as manager he can');
    assert.match(await gus.text('/account'), /Gustav/);
    const [me] = [...(await admin.text('/users?q=admin')).matchAll(/\/users\/(\d+)\/edit/g)].map((m) => Number(m[1]));
    const demote = await admin.submit(`/users/${me}/edit`, `/users/${me}`, { username: 'admin', display_name: 'Administrator', role: 'manager' });
    assert.equal(demote.status, 422);
    assert.match(await demote.text(), /You cannot remove your own administrator role/);
  });

  it('a user changes their own profile photo', async () => {
    await createUser(admin, 'hana', 'hana-password', 'salesperson');
    const hana = new Client(app.url);
    await hana.login('hana', 'hana-password');
    assert.doesNotMatch(await hana.text('/account'), /src="\/uploads\//);
    const photo = new Blob([new Uint8Array(solidPng(30, 30, [10, 200, 10]))], { type: 'image/png' });
    assert.equal((await hana.submit('/account', '/account/photo', { photo })).status, 303);
    const m = /src="(\/uploads\/[a-f0-9]{64}\.png)"/.exec(await hana.text('/account'));
    assert.ok(m?.[1], 'the new photo is shown');
    assert.equal((await hana.get(m[1])).status, 200);
  });
});
