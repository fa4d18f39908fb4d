import type { Server } from 'node:http';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';
import { createSession } from './lib/session.js';
import { ensureAdmin } from './models/users.js';

// HAProxy closes idle connections after 60 s; the server must wait longer, or it may
// close a connection just as the balancer sends a request on it (a spurious 502).
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const HEADERS_TIMEOUT_MS = 66_000;
const SHUTDOWN_GRACE_MS = 9_000;

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`config error: ${err.message}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const applied = await migrate(config.databaseUrl);
  console.log(`migrations applied: ${applied.length ? applied.join(', ') : 'none pending'}`);

  const pool = createPool(config.databaseUrl);
  await ensureAdmin(pool, config.adminPassword);
  const session = createSession(pool, config.sessionSecret, config.cookieSecure, {
    idleSeconds: config.sessionIdleSeconds,
    maxSeconds: config.sessionMaxSeconds,
  });

  let shuttingDown = false;
  const app = createApp({ config, pool, session, isShuttingDown: () => shuttingDown });
  const server: Server = app.listen(config.port, config.host, () => {
    console.log(`listening on http://${config.host}:${config.port}`);
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;

  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    console.log(`${signal}: closing, finishing in-flight requests`);
    // Keep-alive connections go idle as their last request finishes; close them as they do.
    const reaper = setInterval(() => server.closeIdleConnections(), 200);
    // Past the grace period, cut the remaining connections so systemd sees a clean stop.
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    server.close(async () => {
      clearInterval(reaper);
      clearTimeout(force);
      session.close();
      await pool.end();
      console.log('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('start-up failed:', err);
  process.exit(1);
});
