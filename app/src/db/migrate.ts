import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

const migrationsDir = fileURLToPath(new URL('../migrations', import.meta.url));

/**
 * Applies pending migrations. Every server calls this at start-up; node-pg-migrate
 * takes a PostgreSQL advisory lock first, and 'wait' makes the other servers block on
 * that lock (the default 'fail' would make them crash) and then find nothing to do.
 */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: migrationsDir,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    advisoryLockMode: 'wait',
    singleTransaction: true,
    log: (msg: string) => console.log(`migrate: ${msg}`),
  });
  return applied.map((m) => m.name);
}
