import type pg from 'pg';
import { z } from 'zod';
import { fetchPage, type ListQuery, type Page } from '../lib/pagination.js';
import { optionalText, text } from './fields.js';

export const companySchema = z.object({
  name: text('Name', 200),
  website: optionalText('Website', 200).refine((v) => v === '' || /^https?:\/\/\S+$/.test(v), 'Website must start with http:// or https://'),
  address: optionalText('Address', 500),
});
export type CompanyInput = z.infer<typeof companySchema>;

export interface Company extends CompanyInput {
  id: number;
  customer_count: number;
}

const COLUMNS = 'co.id, co.name, co.website, co.address, (SELECT count(*)::int FROM customers c WHERE c.company_id = co.id) AS customer_count';

export function listCompanies(db: pg.Pool, list: ListQuery): Promise<Page<Company>> {
  return fetchPage<Company>(
    db,
    { select: COLUMNS, from: 'companies co', where: 'co.name ILIKE $1 OR co.website ILIKE $1', orderBy: 'co.name, co.id' },
    list,
  );
}

export async function companyOptions(db: pg.Pool): Promise<{ id: number; name: string }[]> {
  return (await db.query<{ id: number; name: string }>('SELECT id, name FROM companies ORDER BY name')).rows;
}

export async function getCompany(db: pg.Pool, companyId: number): Promise<Company | undefined> {
  return (await db.query<Company>(`SELECT ${COLUMNS} FROM companies co WHERE co.id = $1`, [companyId])).rows[0];
}

export async function createCompany(db: pg.Pool, c: CompanyInput): Promise<number> {
  const r = await db.query<{ id: number }>(
    'INSERT INTO companies (name, website, address) VALUES ($1, $2, $3) RETURNING id',
    [c.name, c.website, c.address],
  );
  return r.rows[0]!.id;
}

export async function updateCompany(db: pg.Pool, companyId: number, c: CompanyInput): Promise<void> {
  await db.query('UPDATE companies SET name = $2, website = $3, address = $4 WHERE id = $1', [
    companyId,
    c.name,
    c.website,
    c.address,
  ]);
}
