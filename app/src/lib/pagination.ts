import type pg from 'pg';

export const PAGE_SIZE = 20;

export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
  pages: number;
}

export interface ListQuery {
  page: number;
  /** Search text as typed; empty means no filter. */
  q: string;
}

/** Reads `?page=` and `?q=` leniently: bad values fall back to the first page / no search. */
export function parseListQuery(query: Record<string, unknown>): ListQuery {
  const page = typeof query.page === 'string' && /^\d{1,6}$/.test(query.page) ? Number(query.page) : 1;
  const q = typeof query.q === 'string' ? query.q.trim().slice(0, 100) : '';
  return { page: Math.max(page, 1), q };
}

/** An ILIKE pattern matching `q` anywhere, with LIKE wildcards in `q` taken literally. */
export function containsPattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, '\\$&')}%`;
}

/**
 * Runs one page of a listing. `from` and `orderBy` are fixed SQL fragments written in
 * code; the only user value, the search pattern, is always bound as $1.
 */
export async function fetchPage<T extends pg.QueryResultRow>(
  db: pg.Pool,
  sql: { select: string; from: string; orderBy: string },
  list: ListQuery,
): Promise<Page<T>> {
  const pattern = containsPattern(list.q);
  const offset = (list.page - 1) * PAGE_SIZE;
  const [count, rows] = await Promise.all([
    db.query<{ total: string }>(`SELECT count(*) AS total FROM ${sql.from}`, [pattern]),
    db.query<T>(`SELECT ${sql.select} FROM ${sql.from} ORDER BY ${sql.orderBy} LIMIT $2 OFFSET $3`, [
      pattern,
      PAGE_SIZE,
      offset,
    ]),
  ]);
  const total = Number(count.rows[0]?.total ?? 0);
  return { items: rows.rows, page: list.page, pageSize: PAGE_SIZE, total, pages: Math.max(1, Math.ceil(total / PAGE_SIZE)) };
}
