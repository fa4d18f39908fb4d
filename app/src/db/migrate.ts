/**
 * Schema changes in two phases (README: "Schema changes: expand, then contract").
 * - expand (src/migrations/): only what servers of the previous release can run against;
 *   every server applies the pending ones at start-up.
 * - contract (src/migrations/contract/, own table): removes what only the previous release
 *   used; run with `node dist/db/migrate.js --contract` once no server of an older release
 *   is left (the deployment decides when: after the last server's release on vnx). On a
 *   database that this start created, no older server can exist, so it runs at once.
 *
 * `node dist/db/migrate.js [--contract]` runs one phase against DATABASE_URL and exits.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';

type Phase = 'expand' | 'contract';
type Log = (msg: string) => void;

const PHASES: Record<Phase, { dir: string; table: string }> = {
  expand: { dir: fileURLToPath(new URL('../migrations', import.meta.url)), table: 'pgmigrations' },
  contract: { dir: fileURLToPath(new URL('../migrations/contract', import.meta.url)), table: 'pgmigrations_contract' },
};

// Index builds on large tables can take minutes; servers wait that long, then give up
// (systemd restarts them).
const LOCK_WAIT_MS = 15 * 60_000;
const LOCK_RETRY_MS = 500;

const consoleLog: Log = (m) => console.log(m);

function isLockBusy(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('Another migration is already running');
}

/** A phase's migrations in this build, as node-pg-migrate names them (the file name without its extension). */
function migrationNames(phase: Phase): string[] {
  return readdirSync(PHASES[phase].dir, { withFileTypes: true })
    .filter((f) => f.isFile() && /\.[cm]?[jt]s$/.test(f.name) && !f.name.endsWith('.d.ts'))
    .map((f) => path.parse(f.name).name)
    .sort();
}

/**
 * Applies a phase's pending migrations. node-pg-migrate takes a PostgreSQL advisory lock
 * first (the same one for both phases), so servers starting together apply them exactly
 * once. The others retry the lock every 500 ms instead of blocking on it (advisoryLockMode
 * 'wait'): a session blocked in pg_advisory_lock() holds a snapshot, and CREATE INDEX
 * CONCURRENTLY waits for every such snapshot to end, so the two would deadlock.
 */
async function runPhase(databaseUrl: string, phase: Phase, log: Log): Promise<string[]> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      const applied = await runner({
        databaseUrl,
        dir: PHASES[phase].dir,
        direction: 'up',
        migrationsTable: PHASES[phase].table,
        advisoryLockMode: 'fail',
        singleTransaction: true,
        log: (msg: string) => log(`migrate ${phase}: ${msg}`),
      });
      return applied.map((m) => m.name);
    } catch (err) {
      if (!isLockBusy(err) || Date.now() > deadline) throw err;
      if (!told) log(`migrate ${phase}: another server is migrating; waiting for it`);
      told = true;
      await sleep(LOCK_RETRY_MS);
    }
  }
}

/**
 * What every server runs at start-up: the expand migrations; then the contract ones too
 * when this run applied every expand migration, i.e. the database was empty, so no server
 * of an older release can be using it.
 */
export async function migrate(databaseUrl: string, log: Log = consoleLog): Promise<string[]> {
  const applied = await runPhase(databaseUrl, 'expand', log);
  if (applied.length === 0 || applied.length < migrationNames('expand').length) return applied;
  return [...applied, ...(await runPhase(databaseUrl, 'contract', log))];
}

export class ContractRefused extends Error {}

/** The expand migrations of this build that the database has not applied. */
async function pendingExpand(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const table = await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [PHASES.expand.table]);
    const done = table.rows[0]?.exists
      ? new Set((await client.query<{ name: string }>(`SELECT name FROM ${PHASES.expand.table}`)).rows.map((r) => r.name))
      : new Set<string>();
    return migrationNames('expand').filter((n) => !done.has(n));
  } finally {
    await client.end();
  }
}

/**
 * Applies the pending contract migrations. Refused while an expand migration of this build
 * is pending: then no server of this release has started on the database, so servers of an
 * older one still serve from it, and the contract would pull the schema from under them.
 */
export async function contract(databaseUrl: string, log: Log = consoleLog): Promise<string[]> {
  const pending = await pendingExpand(databaseUrl);
  if (pending.length) {
    throw new ContractRefused(
      `contract refused: expand migrations ${pending.join(', ')} are not applied (no server of this release has started on this database yet)`,
    );
  }
  return runPhase(databaseUrl, 'contract', log);
}

async function main(args: string[]): Promise<void> {
  const phase = args.length === 0 ? migrate : args.length === 1 && args[0] === '--contract' ? contract : undefined;
  const databaseUrl = process.env.DATABASE_URL;
  if (!phase || !databaseUrl) {
    console.error('usage: DATABASE_URL=postgres://… node dist/db/migrate.js [--contract]');
    process.exit(2);
  }
  const applied = await phase(databaseUrl);
  console.log(`migrations applied: ${applied.length ? applied.join(', ') : 'none pending'}`);
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof ContractRefused ? err.message : err);
    process.exit(err instanceof ContractRefused ? 3 : 1);
  });
}
