import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * Contract step for 1767225600000_roles-throttle-archive.ts: role replaced users.is_admin,
 * and login_throttle replaced login_failures. Since 1767571200000_role-sync-both-ways.ts no
 * server reads or writes either; the previous release still writes is_admin, so this runs
 * only once every server runs this release (src/db/migrate.ts). IF EXISTS: a database that
 * lost them another way is left as it is.
 */
export function up(pgm: MigrationBuilder): void {
  pgm.sql(`
    DROP TRIGGER IF EXISTS users_role_from_is_admin ON users;
    DROP FUNCTION IF EXISTS users_role_from_is_admin();
    ALTER TABLE users DROP COLUMN IF EXISTS is_admin;
    DROP TABLE IF EXISTS login_failures;
  `);
}

// Irreversible: login_failures' rows are gone, and the release that needed these cannot run
// after a contract anyway (README: "Schema changes: expand, then contract").
export const down = false;
