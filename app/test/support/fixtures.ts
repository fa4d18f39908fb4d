import assert from 'node:assert/strict';
import { ADMIN_PASSWORD } from './app.js';
import { Client, redirectId } from './client.js';
import { queryOnce } from './db.js';

/** Creates a company through the web form and returns its id. */
export async function createCompany(client: Client, databaseUrl: string, name: string): Promise<number> {
  const res = await client.submit('/companies/new', '/companies', { name, website: 'https://example.test' });
  assert.equal(res.status, 303, 'company form accepted');
  const rows = await queryOnce<{ id: number }>(databaseUrl, 'SELECT id FROM companies WHERE name = $1', [name]);
  assert.ok(rows[0]);
  return rows[0].id;
}

/** Creates a customer (optionally with a photo) through the web form and returns its id. */
export async function createCustomer(client: Client, companyId: number, name: string, photo?: Blob): Promise<number> {
  const fields: Record<string, string | Blob> = { name, company_id: String(companyId), email: 'ann@example.test' };
  if (photo) fields.photo = photo;
  return redirectId(await client.submit('/customers/new', '/customers', fields), '/customers');
}

/** The /uploads/... URL of the photo on a customer's page. */
export async function photoUrl(client: Client, customerId: number): Promise<string> {
  const m = /src="(\/uploads\/[a-f0-9]{64}\.(?:png|jpg|gif|webp))"/.exec(await client.text(`/customers/${customerId}`));
  assert.ok(m?.[1], 'customer page shows the photo');
  return m[1];
}

/** Creates a user through the admin's form and returns its id. */
export async function createUser(admin: Client, username: string, password: string, role: 'admin' | 'manager' | 'salesperson'): Promise<number> {
  const res = await admin.submit('/users/new', '/users', { username, display_name: username[0]!.toUpperCase() + username.slice(1), password, role });
  assert.equal(res.status, 303, `user ${username} created`);
  // The search finds exactly this user, whose row links to /users/<id>/edit.
  const m = /\/users\/(\d+)\/edit/.exec(await admin.text(`/users?q=${username}`));
  assert.ok(m?.[1], `user ${username} listed`);
  return Number(m[1]);
}

export interface SalesTeam {
  admin: Client;
  /** User ids: maria (manager), alice and bob (salespeople); passwords are `<name>-password`. */
  ids: { maria: number; alice: number; bob: number };
}

/** Signs in as admin and creates the team most tests act as. */
export async function createSalesTeam(baseUrl: string): Promise<SalesTeam> {
  const admin = new Client(baseUrl);
  await admin.login('admin', ADMIN_PASSWORD);
  const maria = await createUser(admin, 'maria', 'maria-password', 'manager');
  const alice = await createUser(admin, 'alice', 'alice-password', 'salesperson');
  const bob = await createUser(admin, 'bob', 'bob-password', 'salesperson');
  return { admin, ids: { maria, alice, bob } };
}
