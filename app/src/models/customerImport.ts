import type pg from 'pg';
import { inTransaction } from '../db/pool.js';
import type { CsvRecord } from '../lib/csv.js';
import { validate } from '../lib/validation.js';
import { createCustomer, customerSchema, type CustomerInput } from './customers.js';

export interface ImportRowError {
  /** The line in the file (the header is line 1). */
  line: number;
  name: string;
  problems: string[];
}

export interface ImportReport {
  imported: number;
  fileError?: string;
  rows: ImportRowError[];
}

export const IMPORT_COLUMNS = ['name', 'company', 'email', 'phone', 'address'] as const;

/**
 * Imports customers from CSV records (columns name, company, email, phone, address;
 * the company by its exact name, which must exist and not be archived). Every row is
 * validated before anything is written; then all rows go in one transaction.
 */
export async function importCustomers(db: pg.Pool, records: CsvRecord[]): Promise<ImportReport> {
  if (records.length === 0) return { imported: 0, fileError: 'The file has no rows', rows: [] };
  const missing = ['name', 'company'].filter((c) => !(c in records[0]!.values));
  if (missing.length) return { imported: 0, fileError: `Missing column(s): ${missing.join(', ')}. Expected: ${IMPORT_COLUMNS.join(', ')}`, rows: [] };

  const companies = new Map(
    (await db.query<{ id: number; name: string }>('SELECT id, lower(name) AS name FROM companies WHERE archived_at IS NULL')).rows.map((c) => [c.name, c.id]),
  );
  const valid: CustomerInput[] = [];
  const rows: ImportRowError[] = [];
  for (const { line, values: record } of records) {
    const companyId = companies.get((record.company ?? '').trim().toLowerCase());
    const result = validate(customerSchema, { ...record, company_id: companyId ?? '' });
    const problems = result.ok ? [] : Object.entries(result.errors).filter(([field]) => field !== 'company_id').map(([field, msg]) => `${field}: ${msg}`);
    if (!companyId) problems.push(`company: no current company named "${record.company ?? ''}"`);
    if (problems.length || !result.ok) rows.push({ line, name: record.name ?? '', problems });
    else valid.push(result.data);
  }
  if (rows.length) return { imported: 0, rows };

  await inTransaction(db, async (client) => {
    for (const c of valid) await createCustomer(client, c, null);
  });
  return { imported: valid.length, rows: [] };
}
