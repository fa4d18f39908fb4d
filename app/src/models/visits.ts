import type pg from 'pg';
import { z } from 'zod';
import { queryDate, queryFlag, queryId, type RawQuery } from '../lib/listQuery.js';
import { fetchAll, fetchPage, Filter, parseListQuery, searchColumnArm, type ListQuery, type ListSql, type Page } from '../lib/pagination.js';
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
  company_name: string;
  salesperson_name: string;
}

export interface VisitQuery extends ListQuery {
  from?: string;
  to?: string;
  status?: 'done' | 'pending';
  salespersonId?: number;
  companyId?: number;
  customerId?: number;
  /** Soonest first (a to-do list) instead of newest first (a history). */
  upcoming?: boolean;
}

/** Filters from the query string; `mine` is a shortcut for the signed-in user's own visits. */
export function parseVisitQuery(query: RawQuery, me: number): VisitQuery {
  const status = query.status === 'done' || query.status === 'pending' ? query.status : undefined;
  return {
    ...parseListQuery(query),
    from: queryDate(query.from),
    to: queryDate(query.to),
    status,
    salespersonId: queryFlag(query.mine) ? me : queryId(query.salesperson),
    companyId: queryId(query.company),
    customerId: queryId(query.customer),
  };
}

const COLUMNS = `v.id, v.customer_id, c.name AS customer_name, co.name AS company_name, v.salesperson_id,
  u.display_name AS salesperson_name, v.visit_date, v.notes, v.done`;
const FROM = 'visits v JOIN customers c ON c.id = v.customer_id JOIN companies co ON co.id = c.company_id JOIN users u ON u.id = v.salesperson_id';

/**
 * A visit matches a search by its notes, its customer's name or its salesperson's name,
 * all three in visits.search (see searchColumnArm): written against visits' own columns,
 * so counting needs no join, and one condition that either walks the list's order
 * index (a frequent word) or the search column's trigram index (a rare one).
 */
const visitSearch = (q: string) =>
  searchColumnArm(q, 'v.search', [
    (p) => `v.notes ILIKE ${p}`,
    (p) => `EXISTS (SELECT FROM customers sc WHERE sc.id = v.customer_id AND sc.name ILIKE ${p})`,
    (p) => `EXISTS (SELECT FROM users su WHERE su.id = v.salesperson_id AND su.display_name ILIKE ${p})`,
  ]);

function visitFilter(q: VisitQuery): Filter {
  const f = new Filter();
  if (q.from) f.where((p) => `v.visit_date >= ${p}`, q.from);
  if (q.to) f.where((p) => `v.visit_date <= ${p}`, q.to);
  if (q.status) f.where(q.status === 'done' ? 'v.done' : 'NOT v.done');
  if (q.salespersonId) f.where((p) => `v.salesperson_id = ${p}`, q.salespersonId);
  if (q.customerId) f.where((p) => `v.customer_id = ${p}`, q.customerId);
  if (q.companyId) f.where((p) => `v.customer_id IN (SELECT id FROM customers WHERE company_id = ${p})`, q.companyId);
  return f.search(q.q, visitSearch(q.q));
}

function visitSql(q: VisitQuery): ListSql {
  return { select: COLUMNS, from: FROM, base: { from: 'visits v', key: 'v.id' }, orderBy: q.upcoming ? 'v.visit_date, v.id' : 'v.visit_date DESC, v.id DESC' };
}

export async function listVisits(db: pg.Pool, q: VisitQuery): Promise<Page<Visit>> {
  return fetchPage<Visit>(db, visitSql(q), visitFilter(q), q.page);
}

export async function exportVisits(db: pg.Pool, q: VisitQuery): Promise<Visit[]> {
  return fetchAll<Visit>(db, visitSql(q), visitFilter(q));
}

/** How many of a salesperson's visits are not done yet. */
export async function pendingCount(db: pg.Pool, salespersonId: number): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM visits WHERE salesperson_id = $1 AND NOT done', [salespersonId]);
  return r.rows[0]?.n ?? 0;
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
  await db.query('UPDATE visits SET customer_id = $2, salesperson_id = $3, visit_date = $4, notes = $5, done = $6 WHERE id = $1', [
    visitId,
    v.customer_id,
    v.salesperson_id,
    v.visit_date,
    v.notes,
    v.done,
  ]);
}

/** Marks a visit done (the one-click action of the visit lists). */
export async function markVisitDone(db: pg.Pool, visitId: number): Promise<void> {
  await db.query('UPDATE visits SET done = true WHERE id = $1', [visitId]);
}

/** The salesperson a visit belongs to, or undefined when there is no such visit. */
export async function visitOwner(db: pg.Pool, visitId: number): Promise<number | undefined> {
  return (await db.query<{ salesperson_id: number }>('SELECT salesperson_id FROM visits WHERE id = $1', [visitId])).rows[0]?.salesperson_id;
}

export async function deleteVisit(db: pg.Pool, visitId: number): Promise<void> {
  await db.query('DELETE FROM visits WHERE id = $1', [visitId]);
}
