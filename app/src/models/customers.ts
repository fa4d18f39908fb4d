import type pg from 'pg';
import { z } from 'zod';
import { fetchPage, type ListQuery, type Page } from '../lib/pagination.js';
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
}

const COLUMNS = 'c.id, c.company_id, co.name AS company_name, c.name, c.email, c.phone, c.address, c.photo';
const FROM = 'customers c JOIN companies co ON co.id = c.company_id';

export function listCustomers(db: pg.Pool, list: ListQuery): Promise<Page<Customer>> {
  return fetchPage<Customer>(
    db,
    {
      select: COLUMNS,
      from: FROM,
      where: 'c.name ILIKE $1 OR c.email ILIKE $1 OR co.name ILIKE $1',
      orderBy: 'c.name, c.id',
    },
    list,
  );
}

export async function getCustomer(db: pg.Pool, customerId: number): Promise<Customer | undefined> {
  return (await db.query<Customer>(`SELECT ${COLUMNS} FROM ${FROM} WHERE c.id = $1`, [customerId])).rows[0];
}

export async function createCustomer(db: pg.Pool, c: CustomerInput, photo: string | null): Promise<number> {
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
