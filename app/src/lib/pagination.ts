import type pg from 'pg';
import { prepared } from '../db/pool.js';

export const PAGE_SIZE = 20;
/**
 * Lists count matches up to this many: an exact count of a search that matches much
 * of 200,000 rows would check them all on every page view (ILIKE costs microseconds
 * a row). Past it, pages say "more than 1000 found" and offer Next while there is one.
 */
export const COUNT_CAP = 1_000;
/** CSV exports stop here, so one request cannot make the server hold an unbounded list. */
export const EXPORT_LIMIT = 100_000;

export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  /** Matches, counted up to COUNT_CAP. */
  total: number;
  /** True when there are more than `total` matches. */
  totalCapped: boolean;
  /** Pages of the counted matches (more exist when totalCapped). */
  pages: number;
  hasNext: boolean;
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
 * A WHERE clause built from fixed SQL fragments written in code; user values only
 * ever go in as bound parameters (`bind` returns their placeholder).
 */
export class Filter {
  readonly params: unknown[] = [];
  private readonly clauses: string[] = [];
  /** The search's alternatives ("name matches OR email matches ..."). */
  private arms: string[] = [];

  bind(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** Adds `sql(placeholder)` for `value`, or `sql` as it is when no value is given. */
  where(sql: string | ((p: string) => string), value?: unknown): this {
    this.clauses.push(typeof sql === 'string' ? sql : sql(this.bind(value)));
    return this;
  }

  /**
   * The search when `q` is not empty: a row matches when any of `arms` (each receives
   * the pattern's placeholder) does.
   */
  search(q: string, ...arms: ((p: string) => string)[]): this {
    if (!q || arms.length === 0) return this;
    const p = this.bind(containsPattern(q));
    this.arms = arms.map((arm) => arm(p));
    return this;
  }

  /** Whether a search is among the conditions. */
  get searching(): boolean {
    return this.arms.length > 0;
  }

  /** All conditions, the search's arms ORed: ` WHERE ...` or ''. */
  get sql(): string {
    const clauses = this.arms.length ? [...this.clauses, this.arms.join(' OR ')] : this.clauses;
    return clauses.length ? ` WHERE ${clauses.map((c) => `(${c})`).join(' AND ')}` : '';
  }
}

/** Separates the parts of a search column (see src/migrations/1767484800000_search-columns.ts). */
const SEARCH_SEPARATOR = '\x1f';

/**
 * The search arm over a table's `search` column, which holds the lowered texts a search
 * looks at (the row's own columns and the names of the rows it points at), separated by
 * U+001F and kept current by triggers. PostgreSQL's `x ILIKE p` is `lower(x) LIKE
 * lower(p)`, so `search LIKE lower(p)` matches exactly the rows where one of the parts
 * would match `ILIKE p`: one cheap LIKE per row (no lowering at each comparison) and one
 * trigram index, instead of an arm per table. Only a text that itself contains U+001F
 * could match across two parts; then each part's own test (`parts`, each given the
 * pattern's placeholder) is required as well.
 */
export function searchColumnArm(q: string, column: string, parts: ((p: string) => string)[]): (p: string) => string {
  return (p) => {
    const like = `${column} LIKE lower(${p})`;
    return q.includes(SEARCH_SEPARATOR) ? `${like} AND (${parts.map((part) => part(p)).join(' OR ')})` : like;
  };
}

export interface ListSql {
  select: string;
  from: string;
  orderBy: string;
  /**
   * The base table alone (e.g. `visits v`), when the filter and the order only look at
   * its columns: counting and finding a page's rows then skip the joins, which only add
   * display columns to the page's 20 rows ("deferred join": page 200 no longer joins
   * 4,000 rows it throws away). `key` is its integer primary key (e.g. `v.id`).
   */
  base?: BaseTable;
}

export interface BaseTable {
  /** The table and its alias, e.g. `visits v`. */
  from: string;
  /** Its primary key, e.g. `v.id`. */
  key: string;
}

/**
 * Runs one page of a listing. Without filters the WHERE is left out, so the ORDER BY
 * can walk an index.
 */
export async function fetchPage<T extends pg.QueryResultRow>(db: pg.Pool, sql: ListSql, filter: Filter, page: number): Promise<Page<T>> {
  // One row more than a page tells whether there is a next page, even past the cap.
  const [limit, offset] = [PAGE_SIZE + 1, (page - 1) * PAGE_SIZE];
  const { found, rows } = sql.base ? await basePage<T>(db, sql, sql.base, filter, limit, offset) : await joinedPage<T>(db, sql, filter, limit, offset);
  const total = Math.min(found, COUNT_CAP);
  return {
    items: rows.slice(0, PAGE_SIZE),
    page,
    pageSize: PAGE_SIZE,
    total,
    totalCapped: found > COUNT_CAP,
    pages: Math.max(1, Math.ceil(total / PAGE_SIZE)),
    hasNext: rows.length > PAGE_SIZE,
  };
}

interface Found<T> {
  /** Matches, counted up to COUNT_CAP + 1. */
  found: number;
  rows: T[];
}

/** Counts (up to COUNT_CAP + 1) and pages a listing whose filter needs its joins. */
async function joinedPage<T extends pg.QueryResultRow>(db: pg.Pool, sql: ListSql, filter: Filter, limit: number, offset: number): Promise<Found<T>> {
  const n = filter.params.length;
  const [counted, rows] = await Promise.all([
    db.query<{ total: number }>(`SELECT count(*)::int AS total FROM (SELECT 1 FROM ${sql.from}${filter.sql} LIMIT $${n + 1}) matches`, [...filter.params, COUNT_CAP + 1]),
    db.query<T>(`SELECT ${sql.select} FROM ${sql.from}${filter.sql} ORDER BY ${sql.orderBy} LIMIT $${n + 1} OFFSET $${n + 2}`, [...filter.params, limit, offset]),
  ]);
  return { found: counted.rows[0]?.total ?? 0, rows: rows.rows };
}

/**
 * Counts and pages a listing filtered on its base table alone. The page's keys come
 * first, then its rows, joined by key: a prepared statement, its plan kept (planning
 * the join cost more CPU than running it). Without a search, the count (up to
 * COUNT_CAP + 1) and the page's keys (walking the list's index) are asked at once.
 * A search first gathers up to COUNT_CAP + 1 matches in whatever order is cheapest (a
 * trigram index for a rare word, the table or an index for a frequent one) and counts
 * them: when there are no more than COUNT_CAP, they are all of them, and the page's
 * keys are sorted out of them (one scan for both); past the cap, the keys are asked in
 * the list's order.
 */
async function basePage<T extends pg.QueryResultRow>(db: pg.Pool, sql: ListSql, base: BaseTable, filter: Filter, limit: number, offset: number): Promise<Found<T>> {
  const n = filter.params.length;
  const pageOf = (from: string, first: number) => `SELECT ${base.key} AS key FROM ${from} ORDER BY ${sql.orderBy} LIMIT $${first} OFFSET $${first + 1}`;
  const pageKeys = async () => (await db.query<{ key: number }>(pageOf(`${base.from}${filter.sql}`, n + 1), [...filter.params, limit, offset])).rows.map((r) => r.key);
  const countSql = `SELECT count(*)::int AS total FROM (SELECT 1 FROM ${base.from}${filter.sql} LIMIT $${n + 1}) matches`;
  let found: number;
  let keys: number[];
  if (!filter.searching) {
    const [counted, page] = await Promise.all([db.query<{ total: number }>(countSql, [...filter.params, COUNT_CAP + 1]), pageKeys()]);
    [found, keys] = [counted.rows[0]?.total ?? 0, page];
  } else {
    // The order's columns and the key, named as in the base table, so that the list's
    // ORDER BY reads the same over the matches.
    const alias = base.from.split(' ').at(-1);
    const columns = [...new Set([...sql.orderBy.split(',').map((c) => c.trim().replace(/\s+(ASC|DESC)$/i, '')), base.key])].join(', ');
    const counted = await db.query<{ total: number; keys: number[] | null }>(
      `WITH matches AS MATERIALIZED (SELECT ${columns} FROM ${base.from}${filter.sql} LIMIT $${n + 1}::int + 1)
       SELECT total, CASE WHEN total <= $${n + 1} THEN ARRAY(${pageOf(`matches ${alias}`, n + 2)}) END AS keys FROM (SELECT count(*)::int AS total FROM matches) m`,
      [...filter.params, COUNT_CAP, limit, offset],
    );
    found = counted.rows[0]?.total ?? 0;
    keys = counted.rows[0]?.keys ?? (await pageKeys());
  }
  if (keys.length === 0) return { found, rows: [] };
  const rows = await db.query<T>(prepared(`SELECT ${sql.select} FROM ${sql.from} WHERE ${base.key} = ANY ($1::int[]) ORDER BY ${sql.orderBy}`, [keys]));
  return { found, rows: rows.rows };
}

/** Every row of a listing (up to EXPORT_LIMIT), for CSV export. */
export async function fetchAll<T extends pg.QueryResultRow>(db: pg.Pool, sql: ListSql, filter: Filter): Promise<T[]> {
  const n = filter.params.length;
  const r = await db.query<T>(`SELECT ${sql.select} FROM ${sql.from}${filter.sql} ORDER BY ${sql.orderBy} LIMIT $${n + 1}`, [...filter.params, EXPORT_LIMIT]);
  return r.rows;
}
