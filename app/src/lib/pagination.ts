import type pg from 'pg';

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
  /** The search's alternatives ("notes match OR customer's name matches ..."), each indexable alone. */
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
   * the pattern's placeholder) does. Kept apart from the other conditions so that a
   * paged list can ask each arm on its own (see fetchPage).
   */
  search(q: string, ...arms: ((p: string) => string)[]): this {
    if (!q || arms.length === 0) return this;
    const p = this.bind(containsPattern(q));
    this.arms = arms.map((arm) => arm(p));
    return this;
  }

  /** All conditions, the search's arms ORed: ` WHERE ...` or ''. */
  get sql(): string {
    return whereSql(this.arms.length ? [...this.clauses, this.arms.join(' OR ')] : this.clauses);
  }

  /** One WHERE per search arm, each with every other condition; [this.sql] without a search. */
  get armsSql(): string[] {
    return this.arms.length ? this.arms.map((arm) => whereSql([...this.clauses, arm])) : [this.sql];
  }
}

function whereSql(clauses: string[]): string {
  return clauses.length ? ` WHERE ${clauses.map((c) => `(${c})`).join(' AND ')}` : '';
}

/**
 * Up to this many ids of matching related rows (customers, companies, salespeople) go
 * into a search as a list; more, and the search asks a subquery instead (see nameArm).
 */
export const ID_LIST_CAP = 1_000;

/**
 * A search arm "`column` points at a row of `table` whose `name` contains q" (e.g.
 * visits of the customers named like q). The matching ids are looked up first and bound
 * as an array, so PostgreSQL plans the list knowing how many there are. As a subquery
 * its estimate is blind: expecting a few matches where there are none, it walks the
 * list's order index looking for them through all 200,000 visits. Past ID_LIST_CAP
 * matches the subquery is kept: that many match densely enough for such a walk to stop
 * soon. No match, no arm.
 */
export async function nameArm(db: pg.Pool, f: Filter, q: string, column: string, table: string, name: string): Promise<((p: string) => string)[]> {
  if (!q) return [];
  // One row back, the ids as an array, or null when there are too many to list.
  const found = await db.query<{ ids: number[] | null }>(
    `SELECT CASE WHEN count(*) <= $2::int THEN coalesce(array_agg(id), '{}') END AS ids FROM (SELECT id FROM ${table} WHERE ${name} ILIKE $1 LIMIT $2::int + 1) m`,
    [containsPattern(q), ID_LIST_CAP],
  );
  const ids = found.rows[0]?.ids ?? null;
  if (ids === null) return [(p) => `${column} IN (SELECT id FROM ${table} WHERE ${name} ILIKE ${p})`];
  if (ids.length === 0) return [];
  const list = f.bind(ids);
  return [() => `${column} = ANY (${list}::int[])`];
}

export interface ListSql {
  select: string;
  from: string;
  orderBy: string;
  /**
   * The base table alone (e.g. `visits v`), when the filter and the order only look at
   * its columns: counting and finding a page's rows then skip the joins, which only add
   * display columns to the page's 20 rows ("deferred join": page 200 no longer joins
   * 4,000 rows it throws away). `key` is its primary key (e.g. `v.id`).
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
 * The ids (`base.key`) of a page, ordered: `SELECT <key> FROM ... LIMIT $limit OFFSET $offset`.
 * A search of several arms becomes a UNION of one ordered, limited query per arm: ORed,
 * "notes match OR the customer's name matches" can use neither index and reads the
 * table row by row (all 200,000 rows when little or nothing matches); apart, each arm
 * takes its own index (a trigram index, or the visits of the matching customers).
 * Each arm needs at most offset + limit rows for the page to be among them.
 */
function pageKeysSql(base: BaseTable, orderBy: string, filter: Filter, limit: string, offset: string): string {
  const arms = filter.armsSql;
  if (arms.length === 1) return `SELECT ${base.key} FROM ${base.from}${arms[0]} ORDER BY ${orderBy} LIMIT ${limit} OFFSET ${offset}`;
  // The union keeps the base table's alias and the order's column names, so the outer
  // ORDER BY reads as the arms' one.
  const alias = base.from.split(' ').at(-1);
  const columns = orderBy.replace(/\s+(ASC|DESC)\b/gi, '');
  const armLimit = `${limit}::int + ${offset}::int`;
  const union = arms.map((where) => `(SELECT ${columns} FROM ${base.from}${where} ORDER BY ${orderBy} LIMIT ${armLimit})`).join(' UNION ');
  return `SELECT ${base.key} FROM (${union}) ${alias} ORDER BY ${orderBy} LIMIT ${limit} OFFSET ${offset}`;
}

/**
 * Counts the rows of `from` matching any of `wheres` (the search's arms), up to `cap`.
 * Each arm stops at `cap` too: if any arm reaches it, so does their union; if none
 * does, the union is complete and exact.
 */
function countSql(from: string, key: string, wheres: string[], cap: string): string {
  const matches =
    wheres.length === 1
      ? `SELECT 1 FROM ${from}${wheres[0]} LIMIT ${cap}`
      : `SELECT 1 FROM (${wheres.map((where) => `(SELECT ${key} FROM ${from}${where} LIMIT ${cap})`).join(' UNION ')}) arms LIMIT ${cap}`;
  return `SELECT count(*)::int AS total FROM (${matches}) matches`;
}

/**
 * Runs one page of a listing. Without filters the WHERE is left out, so the ORDER BY
 * can walk an index.
 */
export async function fetchPage<T extends pg.QueryResultRow>(db: pg.Pool, sql: ListSql, filter: Filter, page: number): Promise<Page<T>> {
  const n = filter.params.length;
  const [limit, offset] = [`$${n + 1}`, `$${n + 2}`];
  const pageSql = sql.base
    ? `SELECT ${sql.select} FROM ${sql.from} WHERE ${sql.base.key} IN (${pageKeysSql(sql.base, sql.orderBy, filter, limit, offset)}) ORDER BY ${sql.orderBy}`
    : `SELECT ${sql.select} FROM ${sql.from}${filter.sql} ORDER BY ${sql.orderBy} LIMIT ${limit} OFFSET ${offset}`;
  const count = sql.base ? countSql(sql.base.from, sql.base.key, filter.armsSql, limit) : countSql(sql.from, '', [filter.sql], limit);
  const [counted, rows] = await Promise.all([
    db.query<{ total: number }>(count, [...filter.params, COUNT_CAP + 1]),
    // One row more than a page tells whether there is a next page, even past the cap.
    db.query<T>(pageSql, [...filter.params, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE]),
  ]);
  const found = counted.rows[0]?.total ?? 0;
  const total = Math.min(found, COUNT_CAP);
  return {
    items: rows.rows.slice(0, PAGE_SIZE),
    page,
    pageSize: PAGE_SIZE,
    total,
    totalCapped: found > COUNT_CAP,
    pages: Math.max(1, Math.ceil(total / PAGE_SIZE)),
    hasNext: rows.rows.length > PAGE_SIZE,
  };
}

/** Every row of a listing (up to EXPORT_LIMIT), for CSV export. */
export async function fetchAll<T extends pg.QueryResultRow>(db: pg.Pool, sql: ListSql, filter: Filter): Promise<T[]> {
  const n = filter.params.length;
  const r = await db.query<T>(`SELECT ${sql.select} FROM ${sql.from}${filter.sql} ORDER BY ${sql.orderBy} LIMIT $${n + 1}`, [...filter.params, EXPORT_LIMIT]);
  return r.rows;
}
