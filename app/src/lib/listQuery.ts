import { parseListQuery, type ListQuery } from './pagination.js';

/** Query-string values as Express gives them. */
export type RawQuery = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/** A positive id from the query string, else undefined (a bad value is ignored, not an error). */
export function queryId(v: unknown): number | undefined {
  const s = str(v);
  return s && /^\d{1,9}$/.test(s) && Number(s) > 0 ? Number(s) : undefined;
}

/** A YYYY-MM-DD date from the query string, else undefined. */
export function queryDate(v: unknown): string | undefined {
  const s = str(v);
  return s && /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) ? s : undefined;
}

export const queryFlag = (v: unknown): boolean => v === '1' || v === 'true' || v === 'on';

export interface ArchivableQuery extends ListQuery {
  /** Show archived records instead of current ones. */
  archived: boolean;
}

export function parseArchivableQuery(query: RawQuery): ArchivableQuery {
  return { ...parseListQuery(query), archived: queryFlag(query.archived) };
}

/** The query string for a list with `changes` applied (for pager and filter links). */
export function queryString(values: Record<string, string | number | boolean | undefined>, changes: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...values, ...changes })) {
    if (v === undefined || v === '' || v === false || (k === 'page' && v === 1)) continue;
    params.set(k, v === true ? '1' : String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}
