import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * Expand step for roles, disabled users, archiving and the new sign-in limits. Only
 * additions, so servers still running the previous release keep working against this
 * schema during a rolling upgrade (test/migration.test.ts runs both against it). The
 * columns and tables the new code no longer uses (users.is_admin, login_failures) stay
 * until a later contract migration, once no old server is left.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    ALTER TABLE users
      ADD COLUMN role text NOT NULL DEFAULT 'salesperson'
        CHECK (role IN ('admin', 'manager', 'salesperson')),
      ADD COLUMN disabled_at timestamptz;
    UPDATE users SET role = 'admin' WHERE is_admin;

    -- The previous release still inserts users with is_admin only; keep role in step
    -- with it until the contract migration drops is_admin.
    CREATE FUNCTION users_role_from_is_admin() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.is_admin AND NEW.role <> 'admin' THEN NEW.role := 'admin'; END IF;
      IF NOT NEW.is_admin AND NEW.role = 'admin' THEN NEW.is_admin := true; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER users_role_from_is_admin BEFORE INSERT OR UPDATE ON users
      FOR EACH ROW EXECUTE FUNCTION users_role_from_is_admin();

    ALTER TABLE companies ADD COLUMN archived_at timestamptz;
    ALTER TABLE customers ADD COLUMN archived_at timestamptz;

    -- One row per throttled key ('ip:<address>' or 'user:<name>'): failures in the
    -- current window and the earliest time the next attempt may be checked. A single
    -- upsert reads and advances it, so concurrent attempts on any server are counted
    -- exactly (see src/models/loginThrottle.ts).
    CREATE TABLE login_throttle (
      key text PRIMARY KEY,
      failures integer NOT NULL,
      window_start timestamptz NOT NULL,
      blocked_until timestamptz NOT NULL
    );
    CREATE INDEX login_throttle_window_idx ON login_throttle (window_start);
  `);
}

export function down(pgm: MigrationBuilder): void {
  pgm.sql(`
    DROP TABLE login_throttle;
    ALTER TABLE customers DROP COLUMN archived_at;
    ALTER TABLE companies DROP COLUMN archived_at;
    DROP TRIGGER users_role_from_is_admin ON users;
    DROP FUNCTION users_role_from_is_admin();
    ALTER TABLE users DROP COLUMN disabled_at, DROP COLUMN role;
  `);
}
