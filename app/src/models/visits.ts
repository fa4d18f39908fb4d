import type pg from 'pg';
import { z } from 'zod';
import { fetchPage, type ListQuery, type Page } from '../lib/pagination.js';
import { checkbox, id } from './fields.js';

const isoDate = z
  .string({ error: 'Date is required' })
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'Date must look like 2025-01-31')
  .refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)), 'Date is not a real date');

export const visitSchema = z.object({
  customer_id: id('customer'),
  salesperson_id: id('salesperson'),
  visit_date: isoDate,
  notes: z.string().trim().max(5000, 'Notes are too long').default(''),
  done: checkbox,
});
export type VisitInput = z.infer<typeof visitSchema>;

export interface Visit extends VisitInput {
  id: number;
  customer_name: string;
  salesperson_name: string;
}

const COLUMNS = `v.id, v.customer_id, c.name AS customer_name, v.salesperson_id,
  u.display_name AS salesperson_name, v.visit_date, v.notes, v.done`;
const FROM = 'visits v JOIN customers c ON c.id = v.customer_id JOIN users u ON u.id = v.salesperson_id';
const ORDER = 'v.visit_date DESC, v.id DESC';

export function listVisits(db: pg.Pool, list: ListQuery): Promise<Page<Visit>> {
  return fetchPage<Visit>(
    db,
    { select: COLUMNS, from: FROM, where: 'c.name ILIKE $1 OR v.notes ILIKE $1 OR u.display_name ILIKE $1', orderBy: ORDER },
    list,
  );
}

export async function visitsOfCustomer(db: pg.Pool, customerId: number): Promise<Visit[]> {
  return (await db.query<Visit>(`SELECT ${COLUMNS} FROM ${FROM} WHERE v.customer_id = $1 ORDER BY ${ORDER} LIMIT 50`, [customerId])).rows;
}

export async function getVisit(db: pg.Pool, visitId: number): Promise<Visit | undefined> {
  return (await db.query<Visit>(`SELECT ${COLUMNS} FROM ${FROM} WHERE v.id = $1`, [visitId])).rows[0];
}

export async function createVisit(db: pg.Pool, v: VisitInput): Promise<number> {
  const r = await db.query<{ id: number }>(
    'INSERT INTO visits (customer_id, salesperson_id, visit_date, notes, done) VALUES ($1, $2, $3, $4, $5) RETURNING id',
    [v.customer_id, v.salesperson_id, v.visit_date, v.notes, v.done],
  );
  return r.rows[0]!.id;
}

export async function updateVisit(db: pg.Pool, visitId: number, v: VisitInput): Promise<void> {
  await db.query(
    'UPDATE visits SET customer_id = $2, salesperson_id = $3, visit_date = $4, notes = $5, done = $6 WHERE id = $1',
    [visitId, v.customer_id, v.salesperson_id, v.visit_date, v.notes, v.done],
  );
}

/** The salesperson a visit belongs to, or undefined when there is no such visit. */
export async function visitOwner(db: pg.Pool, visitId: number): Promise<number | undefined> {
  return (await db.query<{ salesperson_id: number }>('SELECT salesperson_id FROM visits WHERE id = $1', [visitId])).rows[0]?.salesperson_id;
}

export async function deleteVisit(db: pg.Pool, visitId: number): Promise<void> {
  await db.query('DELETE FROM visits WHERE id = $1', [visitId]);
}
