import type { MigrationBuilder } from 'node-pg-migrate';

export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    CREATE TABLE users (
      id serial PRIMARY KEY,
      username text NOT NULL UNIQUE,
      display_name text NOT NULL,
      password_hash text NOT NULL,
      is_admin boolean NOT NULL DEFAULT false,
      photo text,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE companies (
      id serial PRIMARY KEY,
      name text NOT NULL UNIQUE,
      website text NOT NULL DEFAULT '',
      address text NOT NULL DEFAULT '',
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE customers (
      id serial PRIMARY KEY,
      company_id integer NOT NULL REFERENCES companies (id) ON DELETE RESTRICT,
      name text NOT NULL,
      email text NOT NULL DEFAULT '',
      phone text NOT NULL DEFAULT '',
      address text NOT NULL DEFAULT '',
      photo text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX customers_name_idx ON customers (name, id);
    CREATE INDEX customers_company_idx ON customers (company_id);

    CREATE TABLE visits (
      id serial PRIMARY KEY,
      customer_id integer NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
      salesperson_id integer NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
      visit_date date NOT NULL,
      notes text NOT NULL DEFAULT '',
      done boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX visits_date_idx ON visits (visit_date DESC, id DESC);
    CREATE INDEX visits_customer_idx ON visits (customer_id);
    CREATE INDEX visits_salesperson_idx ON visits (salesperson_id);

    -- Only the sha256 of a token is stored; the token itself is shown once.
    CREATE TABLE api_tokens (
      id serial PRIMARY KEY,
      user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name text NOT NULL,
      token_hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz
    );

    -- Failed sign-ins, kept in the database so the limit holds across all servers.
    CREATE TABLE login_failures (
      username text NOT NULL,
      failed_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX login_failures_idx ON login_failures (username, failed_at);

    -- connect-pg-simple's table, created here rather than by the store so that
    -- servers starting together do not race to create it.
    CREATE TABLE session (
      sid varchar NOT NULL PRIMARY KEY,
      sess json NOT NULL,
      expire timestamp(6) NOT NULL
    );
    CREATE INDEX session_expire_idx ON session (expire);
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql(`
    DROP TABLE session, login_failures, api_tokens, visits, customers, companies, users;
  `);
}
