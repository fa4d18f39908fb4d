import type pg from 'pg';
import { z } from 'zod';
import type { ArchivableQuery } from '../lib/listQuery.js';
import { fetchAll, fetchPage, Filter, type ListSql, type Page } from '../lib/pagination.js';
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
  archived: boolean;
}

const COLUMNS = `co.id, co.name, co.website, co.address, co.archived_at IS NOT NULL AS archived,
  (SELECT count(*)::int FROM customers c WHERE c.company_id = co.id AND c.archived_at IS NULL) AS customer_count`;
const LIST: ListSql = { select: COLUMNS, from: 'companies co', orderBy: 'co.name, co.id' };

function companyFilter(list: ArchivableQuery): Filter {
  return new Filter()
    .where(list.archived ? 'co.archived_at IS NOT NULL' : 'co.archived_at IS NULL')
    .search(
      list.q,
      (p) => `co.name ILIKE ${p}`,
      (p) => `co.website ILIKE ${p}`,
    );
}

export function listCompanies(db: pg.Pool, list: ArchivableQuery): Promise<Page<Company>> {
  return fetchPage<Company>(db, LIST, companyFilter(list), list.page);
}

export function exportCompanies(db: pg.Pool, list: ArchivableQuery): Promise<Company[]> {
  return fetchAll<Company>(db, LIST, companyFilter(list));
}

/** Current companies to choose from, plus `keep` (a record's own company, even if archived). */
export async function companyOptions(db: pg.Pool, keep?: number): Promise<{ id: number; name: string }[]> {
  return (
    await db.query<{ id: number; name: string }>('SELECT id, name FROM companies WHERE archived_at IS NULL OR id = $1 ORDER BY name', [keep ?? null])
  ).rows;
}

export async function getCompany(db: pg.Pool, companyId: number): Promise<Company | undefined> {
  return (await db.query<Company>(`SELECT ${COLUMNS} FROM companies co WHERE co.id = $1`, [companyId])).rows[0];
}

export async function createCompany(db: pg.Pool, c: CompanyInput): Promise<number> {
  const r = await db.query<{ id: number }>('INSERT INTO companies (name, website, address) VALUES ($1, $2, $3) RETURNING id', [
    c.name,
    c.website,
    c.address,
  ]);
  return r.rows[0]!.id;
}

export async function updateCompany(db: pg.Pool, companyId: number, c: CompanyInput): Promise<void> {
  await db.query('UPDATE companies SET name = $2, website = $3, address = $4 WHERE id = $1', [companyId, c.name, c.website, c.address]);
}

/** Archives (hides) or restores a company; nothing is deleted. */
export async function setCompanyArchived(db: pg.Pool, companyId: number, archived: boolean): Promise<void> {
  await db.query('UPDATE companies SET archived_at = CASE WHEN $2 THEN coalesce(archived_at, now()) END WHERE id = $1', [companyId, archived]);
}
