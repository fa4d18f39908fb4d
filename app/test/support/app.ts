import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const APP_DIR = fileURLToPath(new URL('../..', import.meta.url));
const SERVER = path.join(APP_DIR, 'dist', 'server.js');
export const ADMIN_PASSWORD = 'admin-password-for-tests';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls `condition` every 100 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `crm-${prefix}-`));
}

/** A complete, valid environment; tests override single variables. */
export function appEnv(databaseUrl: string, uploadDir: string, port: number): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    DATABASE_URL: databaseUrl,
    UPLOAD_DIR: uploadDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    SESSION_SECRET: 'test-session-secret-that-is-long-enough',
    ADMIN_PASSWORD,
    // As deployed: one balancer in front. Tests stand in for it (Client.forwardedFor).
    TRUST_PROXY_HOPS: '1',
  };
}

/** Every server a test started and has not yet seen exit; see stopAll. */
const live = new Set<AppProcess>();

/** Stops whatever a failed test left running (a root hook runs this after the suite). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((app) => app.stop()));
}

/** A server started as a real child process, the way systemd runs it. */
export class AppProcess {
  readonly url: string;
  private output = '';
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  /** Starts `server` (default: this checkout's dist/server.js) with `env`. */
  static start(env: NodeJS.ProcessEnv, server = SERVER): AppProcess {
    const child = spawn(process.execPath, [server], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    return new AppProcess(child, Number(env.PORT));
  }

  /** Starts a server on a free port and waits until /healthz says 200. */
  static async startHealthy(databaseUrl: string, uploadDir: string): Promise<AppProcess> {
    const app = AppProcess.start(appEnv(databaseUrl, uploadDir, await freePort()));
    try {
      await app.waitHealthy();
    } catch (err) {
      await app.stop();
      throw err;
    }
    return app;
  }

  get log(): string {
    return this.output;
  }

  /** The server's process id (the benchmark reads its CPU time). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async health(): Promise<{ status: number; body: { checks: Record<string, string> } }> {
    const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
  }

  /** Polls /healthz until it answers `status` (default 200) and returns how long that took. */
  async waitHealthy(timeoutMs = 20_000, status = 200): Promise<number> {
    const started = Date.now();
    await waitFor(async () => {
      if (!this.running) throw new Error(`server exited with ${this.child.exitCode}:\n${this.output}`);
      return (await this.health().catch(() => undefined))?.status === status;
    }, timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message} (waiting for /healthz ${status}):\n${this.output}`);
    });
    return Date.now() - started;
  }

  /** Resolves with the exit code (for servers expected to stop on their own). */
  waitExit(): Promise<number | null> {
    return this.exited;
  }

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }
}
