import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * Trigram indexes for every column a list searches with ILIKE '%text%', and the
 * index behind "my visits" and the home page. Built CONCURRENTLY, so the three
 * servers keep writing to these tables while the indexes build (a plain CREATE INDEX
 * would block writes to the table for the whole build). CONCURRENTLY cannot run in a
 * transaction: each statement commits on its own, and each index is dropped first
 * so that a build interrupted half-way (which leaves an invalid index) is redone on
 * the next start. Only additions: the previous release runs unchanged against it.
 */
const INDEXES: [name: string, definition: string][] = [
  ['customers_name_trgm_idx', 'customers USING gin (name gin_trgm_ops)'],
  ['customers_email_trgm_idx', 'customers USING gin (email gin_trgm_ops)'],
  ['companies_name_trgm_idx', 'companies USING gin (name gin_trgm_ops)'],
  ['companies_website_trgm_idx', 'companies USING gin (website gin_trgm_ops)'],
  ['visits_notes_trgm_idx', 'visits USING gin (notes gin_trgm_ops)'],
  ['users_display_name_trgm_idx', 'users USING gin (display_name gin_trgm_ops)'],
  ['users_username_trgm_idx', 'users USING gin (username gin_trgm_ops)'],
  ['visits_salesperson_date_idx', 'visits (salesperson_id, visit_date, id)'],
];

export function up(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  // A trusted extension since PostgreSQL 13: the database owner (the app's role) may create it.
  pgm.sql('CREATE EXTENSION IF NOT EXISTS pg_trgm');
  for (const [name, definition] of INDEXES) {
    pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
    pgm.sql(`CREATE INDEX CONCURRENTLY ${name} ON ${definition}`);
  }
}

export function down(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  for (const [name] of INDEXES) pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
}
