import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

const migrationsDir = fileURLToPath(new URL('../migrations', import.meta.url));

// Index builds on large tables can take minutes; servers wait that long, then give up
// (systemd restarts them).
const LOCK_WAIT_MS = 15 * 60_000;
const LOCK_RETRY_MS = 500;

function isLockBusy(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('Another migration is already running');
}

/**
 * Applies pending migrations. Every server calls this at start-up; node-pg-migrate
 * takes a PostgreSQL advisory lock first, so servers starting together apply them
 * exactly once. The others retry the lock every 500 ms instead of blocking on it
 * (advisoryLockMode 'wait'): a session blocked in pg_advisory_lock() holds a
 * snapshot, and CREATE INDEX CONCURRENTLY waits for every such snapshot to end, so the
 * two would deadlock.
 */
export async function migrate(databaseUrl: string, log: (msg: string) => void = (m) => console.log(m)): Promise<string[]> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      const applied = await runner({
        databaseUrl,
        dir: migrationsDir,
        direction: 'up',
        migrationsTable: 'pgmigrations',
        advisoryLockMode: 'fail',
        singleTransaction: true,
        log: (msg: string) => log(`migrate: ${msg}`),
      });
      return applied.map((m) => m.name);
    } catch (err) {
      if (!isLockBusy(err) || Date.now() > deadline) throw err;
      if (!told) log('migrate: another server is migrating; waiting for it');
      told = true;
      await sleep(LOCK_RETRY_MS);
    }
  }
}
