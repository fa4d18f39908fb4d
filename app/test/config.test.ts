import assert from 'node:assert/strict';
import { AppProcess, appEnv, tempDir } from './support/app.js';

/** Starts the server with a broken environment; it must refuse before touching the database. */
async function startWith(change: (env: NodeJS.ProcessEnv) => void): Promise<{ code: number | null; log: string }> {
  // Port 9 and an unreachable URL: if validation let it through, start-up would hang or fail differently.
  const env = appEnv('postgres://nobody:nothing@127.0.0.1:9/none', tempDir('uploads'), 9);
  change(env);
  const app = AppProcess.start(env);
  const code = await app.waitExit();
  return { code, log: app.log };
}

describe('configuration from the environment', () => {
  it('exits 2 naming DATABASE_URL when it is missing', async () => {
    const { code, log } = await startWith((env) => delete env.DATABASE_URL);
    assert.equal(code, 2);
    assert.match(log, /^config error: DATABASE_URL: is required$/m);
  });

  it('exits 2 naming DATABASE_URL when it is not a postgres URL', async () => {
    const { code, log } = await startWith((env) => (env.DATABASE_URL = 'mysql://db/crm'));
    assert.equal(code, 2);
    assert.match(log, /^config error: DATABASE_URL: must be a postgres:\/\/ URL$/m);
  });

  it('exits 2 naming SESSION_SECRET when it is shorter than 32 characters', async () => {
    const { code, log } = await startWith((env) => (env.SESSION_SECRET = 'too-short'));
    assert.equal(code, 2);
    assert.match(log, /^config error: SESSION_SECRET: must be at least 32 characters$/m);
  });

  it('exits 2 naming PORT when it is not a port number', async () => {
    const { code, log } = await startWith((env) => (env.PORT = '70000'));
    assert.equal(code, 2);
    assert.match(log, /^config error: PORT: /m);
  });
});
