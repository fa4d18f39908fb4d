import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * Indexes the lists walk in their order, so that a page, a count capped at 1,001 and a
 * search arm that filters rows on the way read the index alone (index-only scans, no
 * visit to the table for each row they pass over):
 * - the visit list by date, carrying the columns its filters and search arms test;
 * - one salesperson's pending visits (the home page, "my pending visits"), partial;
 * - current (not archived) customers by name, partial.
 * Built CONCURRENTLY like the search indexes (1767312000000_search-indexes.ts: each
 * statement commits on its own, an interrupted build is dropped and redone on the next
 * start), so writes go on during the build. Then the two indexes these replace are
 * dropped, CONCURRENTLY too: servers of the previous release run unchanged against
 * either set of indexes (only their plans change), so no contract step waits for them.
 */
const INDEXES: [name: string, definition: string][] = [
  ['visits_date_cover_idx', 'visits (visit_date, id) INCLUDE (customer_id, salesperson_id, done)'],
  ['visits_pending_idx', 'visits (salesperson_id, visit_date, id) WHERE NOT done'],
  ['customers_current_name_idx', 'customers (name, id) INCLUDE (company_id) WHERE archived_at IS NULL'],
];

/** Replaced: visits_date_cover_idx serves its order; visits_salesperson_date_idx leads with salesperson_id. */
const REPLACED: [name: string, definition: string][] = [
  ['visits_date_idx', 'visits (visit_date DESC, id DESC)'],
  ['visits_salesperson_idx', 'visits (salesperson_id)'],
];

function build(pgm: MigrationBuilder, indexes: [string, string][]): void {
  for (const [name, definition] of indexes) {
    pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
    pgm.sql(`CREATE INDEX CONCURRENTLY ${name} ON ${definition}`);
  }
}

function drop(pgm: MigrationBuilder, indexes: [string, string][]): void {
  for (const [name] of indexes) pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
}

export function up(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  build(pgm, INDEXES);
  drop(pgm, REPLACED);
}

export function down(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  build(pgm, REPLACED);
  drop(pgm, INDEXES);
}
