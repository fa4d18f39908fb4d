import type { Response } from 'express';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

export interface CsvColumn<T> {
  header: string;
  value: (row: T) => string | number | boolean | null;
}

/**
 * A spreadsheet opening the file would run a cell starting with = + - @ (or a tab or
 * carriage return) as a formula; a leading apostrophe makes it plain text.
 */
function defuse(value: string | number | boolean | null): string {
  const s = value === null ? '' : String(value);
  return /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

/** Sends `rows` as a CSV download (UTF-8 with BOM, so spreadsheets read accents right). */
export function sendCsv<T>(res: Response, filename: string, columns: CsvColumn<T>[], rows: T[]): void {
  const body = stringify([columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => defuse(c.value(r))))]);
  res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  res.setHeader('Cache-Control', 'private, no-store');
  res.type('text/csv; charset=utf-8').send(`\uFEFF${body}`);
}

export const MAX_IMPORT_ROWS = 5000;

export type CsvRecords = { ok: true; records: Record<string, string>[] } | { ok: false; error: string };

/** Parses a CSV file with a header row; header names are matched case-insensitively. */
export function parseCsv(buf: Buffer): CsvRecords {
  try {
    const records = parse(buf, {
      bom: true,
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      skip_empty_lines: true,
      trim: true,
      relax_column_count: false,
      to: MAX_IMPORT_ROWS + 1,
    }) as Record<string, string>[];
    if (records.length > MAX_IMPORT_ROWS) return { ok: false, error: `At most ${MAX_IMPORT_ROWS} rows per file` };
    return { ok: true, records };
  } catch (err) {
    return { ok: false, error: `Not a readable CSV file: ${err instanceof Error ? err.message : String(err)}` };
  }
}
