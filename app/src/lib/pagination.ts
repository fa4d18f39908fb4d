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
 * Runs one page of a listing. `from`, `where` and `orderBy` are fixed SQL fragments
 * written in code; the only user value, the search pattern, is always bound as $1.
 * Without a search the WHERE is left out, so the ORDER BY can walk an index.
 */
export async function fetchPage<T extends pg.QueryResultRow>(
  db: pg.Pool,
  sql: { select: string; from: string; where: string; orderBy: string },
  list: ListQuery,
): Promise<Page<T>> {
  const filter = list.q ? ` WHERE ${sql.where}` : '';
  const params: unknown[] = list.q ? [containsPattern(list.q)] : [];
  const n = params.length;
  const [count, rows] = await Promise.all([
    db.query<{ total: string }>(`SELECT count(*) AS total FROM ${sql.from}${filter}`, params),
    db.query<T>(
      `SELECT ${sql.select} FROM ${sql.from}${filter} ORDER BY ${sql.orderBy} LIMIT $${n + 1} OFFSET $${n + 2}`,
      [...params, PAGE_SIZE, (list.page - 1) * PAGE_SIZE],
    ),
  ]);
  const total = Number(count.rows[0]?.total ?? 0);
  return { items: rows.rows, page: list.page, pageSize: PAGE_SIZE, total, pages: Math.max(1, Math.ceil(total / PAGE_SIZE)) };
}
