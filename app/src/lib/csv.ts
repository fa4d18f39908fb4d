import type { Request, RequestHandler, Response } from 'express';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

/** A column: a field written under its own name, or [header, field]. */
export type CsvColumn<T> = (keyof T & string) | [header: string, field: keyof T & string];

/**
 * A spreadsheet opening the file would run a cell starting with = + - @ (or a tab or
 * carriage return) as a formula; a leading apostrophe makes it plain text.
 */
function defuse(value: string | number | boolean | null): string {
  const s = value === null ? '' : String(value);
  return /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

function cell(value: unknown): string | number | boolean | null {
  return value === null || value === undefined ? null : typeof value === 'object' ? JSON.stringify(value) : (value as string | number | boolean);
}

/** Sends `rows` as a CSV download (UTF-8 with BOM, so spreadsheets read accents right). */
export function sendCsv<T>(res: Response, filename: string, columns: CsvColumn<T>[], rows: T[]): void {
  const pairs = columns.map((c) => (typeof c === 'string' ? [c, c] : c));
  const body = stringify([pairs.map(([header]) => header), ...rows.map((r) => pairs.map(([, field]) => defuse(cell(r[field as keyof T]))))]);
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  res.setHeader('Cache-Control', 'private, no-store');
  res.type('text/csv; charset=utf-8').send(`\uFEFF${body}`);
}

export interface CsvExport<T> {
  filename: string;
  columns: CsvColumn<T>[];
  /** Every row of the list as filtered by the request's query string. */
  rows: (req: Request, res: Response) => Promise<T[]>;
}

/** The handler of a list's GET /export.csv. */
export function csvExport<T>(e: CsvExport<T>): RequestHandler {
  return async (req, res) => sendCsv(res, e.filename, e.columns, await e.rows(req, res));
}

export const MAX_IMPORT_ROWS = 5000;

/** One data row of a CSV file, and the line of the file it starts on (the header is line 1). */
export interface CsvRecord {
  line: number;
  values: Record<string, string>;
}

export type CsvRecords = { ok: true; records: CsvRecord[] } | { ok: false; error: string };

/**
 * Parses a CSV file with a header row; header names are matched case-insensitively. Row
 * numbers cannot be counted from the records' positions: empty lines are skipped, and a
 * quoted field may hold line breaks. csv-parse tells the line each record ends on; a
 * record starts as many lines earlier as its values hold line breaks. Line ends are made
 * LF first: csv-parse counts a CR LF inside a quoted field as two lines.
 */
export function parseCsv(buf: Buffer): CsvRecords {
  try {
    const parsed = parse(buf.toString('utf8').replace(/\r\n/g, '\n'), {
      bom: true,
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      skip_empty_lines: true,
      trim: true,
      relax_column_count: false,
      to: MAX_IMPORT_ROWS + 1,
      info: true,
    }) as { record: Record<string, string>; info: { lines: number } }[];
    if (parsed.length > MAX_IMPORT_ROWS) return { ok: false, error: `At most ${MAX_IMPORT_ROWS} rows per file` };
    const breaks = (values: Record<string, string>) => Object.values(values).join('').split('\n').length - 1;
    return { ok: true, records: parsed.map(({ record, info }) => ({ line: info.lines - breaks(record), values: record })) };
  } catch (err) {
    return { ok: false, error: `Not a readable CSV file: ${err instanceof Error ? err.message : String(err)}` };
  }
}
