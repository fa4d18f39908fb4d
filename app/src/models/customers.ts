import type pg from 'pg';
import { z } from 'zod';
import { queryId, type ArchivableQuery, type RawQuery } from '../lib/listQuery.js';
import { fetchAll, fetchPage, Filter, searchColumnArm, type ListSql, type Page } from '../lib/pagination.js';
import { email, id, optionalText, phone, text } from './fields.js';

export const customerSchema = z.object({
  company_id: id('company'),
  name: text('Name', 200),
  email,
  phone,
  address: optionalText('Address', 500),
});
export type CustomerInput = z.infer<typeof customerSchema>;

export interface Customer extends CustomerInput {
  id: number;
  company_name: string;
  photo: string | null;
  archived: boolean;
}

export interface CustomerQuery extends ArchivableQuery {
  companyId?: number;
}

export function parseCustomerQuery(query: RawQuery, base: ArchivableQuery): CustomerQuery {
  return { ...base, companyId: queryId(query.company) };
}

const COLUMNS = 'c.id, c.company_id, co.name AS company_name, c.name, c.email, c.phone, c.address, c.photo, c.archived_at IS NOT NULL AS archived';
const FROM = 'customers c JOIN companies co ON co.id = c.company_id';

/**
 * A customer matches a search by name, e-mail or company name, all three in
 * customers.search (see searchColumnArm).
 */
const customerSearch = (q: string) =>
  searchColumnArm(q, 'c.search', [
    (p) => `c.name ILIKE ${p}`,
    (p) => `c.email ILIKE ${p}`,
    (p) => `EXISTS (SELECT FROM companies sco WHERE sco.id = c.company_id AND sco.name ILIKE ${p})`,
  ]);

function customerFilter(list: CustomerQuery): Filter {
  const f = new Filter().where(list.archived ? 'c.archived_at IS NOT NULL' : 'c.archived_at IS NULL');
  if (list.companyId) f.where((p) => `c.company_id = ${p}`, list.companyId);
  return f.search(list.q, customerSearch(list.q));
}

function customerSql(_list: CustomerQuery): ListSql {
  // The filter looks at customers only, so counting and paging need no join.
  return { select: COLUMNS, from: FROM, orderBy: 'c.name, c.id', base: { from: 'customers c', key: 'c.id' } };
}

export async function listCustomers(db: pg.Pool, list: CustomerQuery): Promise<Page<Customer>> {
  return fetchPage<Customer>(db, customerSql(list), customerFilter(list), list.page);
}

export async function exportCustomers(db: pg.Pool, list: CustomerQuery): Promise<Customer[]> {
  return fetchAll<Customer>(db, customerSql(list), customerFilter(list));
}

export async function getCustomer(db: pg.Pool, customerId: number): Promise<Customer | undefined> {
  return (await db.query<Customer>(`SELECT ${COLUMNS} FROM ${FROM} WHERE c.id = $1`, [customerId])).rows[0];
}

export async function createCustomer(db: pg.Pool | pg.PoolClient, c: CustomerInput, photo: string | null): Promise<number> {
  const r = await db.query<{ id: number }>(
    'INSERT INTO customers (company_id, name, email, phone, address, photo) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
    [c.company_id, c.name, c.email, c.phone, c.address, photo],
  );
  return r.rows[0]!.id;
}

/** Updates the fields; a null photo keeps the current one. */
export async function updateCustomer(db: pg.Pool, customerId: number, c: CustomerInput, photo: string | null): Promise<void> {
  await db.query(
    `UPDATE customers SET company_id = $2, name = $3, email = $4, phone = $5, address = $6,
       photo = COALESCE($7, photo) WHERE id = $1`,
    [customerId, c.company_id, c.name, c.email, c.phone, c.address, photo],
  );
}

/** Archives (hides) or restores a customer; their visits stay. */
export async function setCustomerArchived(db: pg.Pool, customerId: number, archived: boolean): Promise<void> {
  await db.query('UPDATE customers SET archived_at = CASE WHEN $2 THEN coalesce(archived_at, now()) END WHERE id = $1', [customerId, archived]);
}
