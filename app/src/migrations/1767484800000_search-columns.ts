import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * A search column on visits and on customers, so that one LIKE on one row answers a
 * search that used to look at three tables:
 * - visits.search    = lower(notes) ␟ lower(customer's name) ␟ lower(salesperson's name)
 * - customers.search = lower(name) ␟ lower(email) ␟ lower(company's name)
 * (␟ is U+001F). `x ILIKE p` is `lower(x) LIKE lower(p)` in PostgreSQL, so
 * `search LIKE lower(p)` finds exactly the rows where one of the parts matches, unless
 * the text searched for contains U+001F (the app checks each part then; see
 * src/lib/pagination.ts). Lowered once when written, the column costs a plain LIKE per
 * row instead of an ILIKE (which lowers the text on every comparison), and a trigram
 * index on it serves rare words.
 *
 * Kept current by triggers, so servers of the previous release, which know nothing of
 * these columns, keep them right during a rolling upgrade:
 * - a row written fills its own column (BEFORE INSERT OR UPDATE);
 * - renaming a customer, a salesperson or a company rewrites the columns that carry the
 *   name (AFTER UPDATE OF name/display_name).
 * Races with a rename: an existing row is locked by its own UPDATE before its trigger
 * reads the names, so a concurrent rename's rewrite either ran first (and is read) or
 * waits for that UPDATE and rewrites the row after it. A new reference (an INSERT, or a
 * visit moved to another customer) is not yet visible to a rename's rewrite, so the
 * trigger holds the referenced row FOR SHARE while reading its name: a rename in
 * progress commits first, a later one waits for this transaction and then sees the row.
 *
 * Expand only, safe on a live deployment, and redone from the start if interrupted
 * (every step is idempotent; non-transactional like the index migrations): the columns
 * are added without a default (no table rewrite), the triggers are in place before
 * the backfill, which goes in batches of 5,000 rows (short transactions, short row
 * locks) and only fills what is still empty; then a CHECK that no row is left empty is
 * validated (without blocking writes) and the trigram indexes are built CONCURRENTLY.
 * The notes/name/email trigram indexes of 1767312000000 stay for servers of the previous
 * release (a later contract step may drop them).
 */
const SEP = String.raw`E'\x1f'`;

/** Triggers that keep the columns current: [name, table, definition]. */
const TRIGGERS: [name: string, table: string, definition: string][] = [
  ['visits_search_fill', 'visits', 'BEFORE INSERT OR UPDATE ON visits FOR EACH ROW EXECUTE FUNCTION visits_search_fill()'],
  ['customers_search_fill', 'customers', 'BEFORE INSERT OR UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION customers_search_fill()'],
  [
    'visits_search_customer_rename',
    'customers',
    'AFTER UPDATE OF name ON customers FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION visits_search_rename()',
  ],
  [
    'visits_search_salesperson_rename',
    'users',
    'AFTER UPDATE OF display_name ON users FOR EACH ROW WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name) EXECUTE FUNCTION visits_search_rename()',
  ],
  [
    'customers_search_company_rename',
    'companies',
    'AFTER UPDATE OF name ON companies FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION customers_search_rename()',
  ],
];

export function up(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  pgm.sql('ALTER TABLE visits ADD COLUMN IF NOT EXISTS search text');
  pgm.sql('ALTER TABLE customers ADD COLUMN IF NOT EXISTS search text');

  // What each column holds: from the names (…_compose), or from the rows it names
  // (…_text; VOLATILE: called after a lock wait, it must read them as committed by then).
  pgm.sql(`
    CREATE OR REPLACE FUNCTION visit_search_compose(notes text, customer_name text, salesperson_name text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT lower($1) || ${SEP} || lower(coalesce($2, '')) || ${SEP} || lower(coalesce($3, '')) $$`);
  pgm.sql(`
    CREATE OR REPLACE FUNCTION visit_search_text(notes text, customer_id integer, salesperson_id integer) RETURNS text
    LANGUAGE sql VOLATILE AS $$
      SELECT visit_search_compose($1, (SELECT name FROM customers WHERE id = $2), (SELECT display_name FROM users WHERE id = $3))
    $$`);
  pgm.sql(`
    CREATE OR REPLACE FUNCTION customer_search_compose(name text, email text, company_name text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT lower($1) || ${SEP} || lower($2) || ${SEP} || lower(coalesce($3, '')) $$`);
  pgm.sql(`
    CREATE OR REPLACE FUNCTION customer_search_text(name text, email text, company_id integer) RETURNS text
    LANGUAGE sql VOLATILE AS $$ SELECT customer_search_compose($1, $2, (SELECT name FROM companies WHERE id = $3)) $$`);

  // Rows fill their own column.
  pgm.sql(`
    CREATE OR REPLACE FUNCTION visits_search_fill() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE customer_name text; salesperson_name text;
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.customer_id = OLD.customer_id AND NEW.salesperson_id = OLD.salesperson_id THEN
        IF NEW.notes <> OLD.notes OR NEW.search IS NULL THEN
          NEW.search := visit_search_text(NEW.notes, NEW.customer_id, NEW.salesperson_id);
        END IF;
        RETURN NEW;
      END IF;
      SELECT name INTO customer_name FROM customers WHERE id = NEW.customer_id FOR SHARE;
      SELECT display_name INTO salesperson_name FROM users WHERE id = NEW.salesperson_id FOR SHARE;
      NEW.search := visit_search_compose(NEW.notes, customer_name, salesperson_name);
      RETURN NEW;
    END $$`);
  pgm.sql(`
    CREATE OR REPLACE FUNCTION customers_search_fill() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE company_name text;
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.company_id = OLD.company_id THEN
        IF NEW.name <> OLD.name OR NEW.email <> OLD.email OR NEW.search IS NULL THEN
          NEW.search := customer_search_text(NEW.name, NEW.email, NEW.company_id);
        END IF;
        RETURN NEW;
      END IF;
      SELECT name INTO company_name FROM companies WHERE id = NEW.company_id FOR SHARE;
      NEW.search := customer_search_compose(NEW.name, NEW.email, company_name);
      RETURN NEW;
    END $$`);
  // Renames rewrite the columns that carry the name.
  pgm.sql(`
    CREATE OR REPLACE FUNCTION visits_search_rename() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_TABLE_NAME = 'customers' THEN
        UPDATE visits SET search = visit_search_text(notes, customer_id, salesperson_id) WHERE customer_id = NEW.id;
      ELSE
        UPDATE visits SET search = visit_search_text(notes, customer_id, salesperson_id) WHERE salesperson_id = NEW.id;
      END IF;
      RETURN NULL;
    END $$`);
  pgm.sql(`
    CREATE OR REPLACE FUNCTION customers_search_rename() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE customers SET search = customer_search_text(name, email, company_id) WHERE company_id = NEW.id;
      RETURN NULL;
    END $$`);
  for (const [name, table, definition] of TRIGGERS) {
    pgm.sql(`DROP TRIGGER IF EXISTS ${name} ON ${table}`);
    pgm.sql(`CREATE TRIGGER ${name} ${definition}`);
  }

  // Backfill by id ranges, one short transaction each (a DO block run outside a
  // transaction may COMMIT). Rows a trigger filled meanwhile are left alone: the
  // re-check of "search IS NULL" after a row lock wait skips them.
  const backfill = (table: string, set: string) => `
    DO $$
    DECLARE lo integer; hi integer;
    BEGIN
      SELECT min(id), max(id) INTO lo, hi FROM ${table};
      WHILE lo <= hi LOOP
        UPDATE ${table} SET search = ${set} WHERE id >= lo AND id < lo + 5000 AND search IS NULL;
        COMMIT;
        lo := lo + 5000;
      END LOOP;
    END $$`;
  pgm.sql(backfill('customers', 'customer_search_text(name, email, company_id)'));
  pgm.sql(backfill('visits', 'visit_search_text(notes, customer_id, salesperson_id)'));

  // No row is left without its column: checked for every row written from now on at
  // once, and for the existing ones by VALIDATE, which does not block writes.
  for (const table of ['visits', 'customers']) {
    pgm.sql(`ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${table}_search_filled`);
    pgm.sql(`ALTER TABLE ${table} ADD CONSTRAINT ${table}_search_filled CHECK (search IS NOT NULL) NOT VALID`);
    pgm.sql(`ALTER TABLE ${table} VALIDATE CONSTRAINT ${table}_search_filled`);
    pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${table}_search_trgm_idx`);
    pgm.sql(`CREATE INDEX CONCURRENTLY ${table}_search_trgm_idx ON ${table} USING gin (search gin_trgm_ops)`);
  }
}

export function down(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  for (const table of ['visits', 'customers']) pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${table}_search_trgm_idx`);
  for (const [name, table] of TRIGGERS) pgm.sql(`DROP TRIGGER IF EXISTS ${name} ON ${table}`);
  pgm.sql(`
    DROP FUNCTION IF EXISTS visits_search_fill(), customers_search_fill(), visits_search_rename(), customers_search_rename(),
      visit_search_text(text, integer, integer), customer_search_text(text, text, integer),
      visit_search_compose(text, text, text), customer_search_compose(text, text, text);
    ALTER TABLE visits DROP COLUMN IF EXISTS search;
    ALTER TABLE customers DROP COLUMN IF EXISTS search;
  `);
}
