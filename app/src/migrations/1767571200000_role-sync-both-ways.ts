import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * Expand step for the release that stops writing users.is_admin (dropped by
 * contract/1767657600000_drop-is-admin-login-failures.ts). Until that contract runs, servers
 * of the previous release still write is_admin, and this release writes only role, so the
 * trigger of 1767225600000_roles-throttle-archive.ts now copies whichever of the two a
 * statement changed into the other. Its old body copied is_admin over role on every update:
 * demoting an admin without touching is_admin would have been undone.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    CREATE OR REPLACE FUNCTION users_role_from_is_admin() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        -- The release before roles inserts admins with is_admin only; the newer ones set role.
        IF NEW.is_admin AND NEW.role <> 'admin' THEN NEW.role := 'admin'; END IF;
        NEW.is_admin := NEW.role = 'admin';
      ELSIF NEW.role IS DISTINCT FROM OLD.role THEN
        NEW.is_admin := NEW.role = 'admin';
      ELSIF NEW.is_admin IS DISTINCT FROM OLD.is_admin THEN
        NEW.role := CASE WHEN NEW.is_admin THEN 'admin' WHEN NEW.role = 'admin' THEN 'salesperson' ELSE NEW.role END;
      END IF;
      RETURN NEW;
    END $$;
  `);
}

/** The body of 1767225600000_roles-throttle-archive.ts again. */
export function down(pgm: MigrationBuilder): void {
  pgm.sql(`
    CREATE OR REPLACE FUNCTION users_role_from_is_admin() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.is_admin AND NEW.role <> 'admin' THEN NEW.role := 'admin'; END IF;
      IF NOT NEW.is_admin AND NEW.role = 'admin' THEN NEW.is_admin := true; END IF;
      RETURN NEW;
    END $$;
  `);
}
