import path from 'node:path';
import { z } from 'zod';

/** Everything the server needs, read once from the environment at start-up. */
export interface Config {
  databaseUrl: string;
  port: number;
  host: string;
  uploadDir: string;
  sessionSecret: string;
  adminPassword: string;
  /** Set when the load balancer terminates TLS, so session cookies are only sent over HTTPS. */
  cookieSecure: boolean;
  /** A session unused for this long is signed out. */
  sessionIdleSeconds: number;
  /** A session is signed out this long after sign-in, however active. */
  sessionMaxSeconds: number;
  /**
   * How many proxies in front append to X-Forwarded-For (and set X-Forwarded-Proto): the
   * client's address is the entry that many hops from the end. 0: the connection's own.
   */
  trustProxyHops: number;
}

const required = z.string({ error: 'is required' });

function seconds(fallback: number) {
  return z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(1, 'must be at least 1')
    .max(30 * 24 * 60 * 60, 'must be at most 30 days')
    .default(fallback);
}

const schema = z.object({
  DATABASE_URL: required.regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL'),
  PORT: z.coerce
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be between 1 and 65535')
    .max(65535, 'must be between 1 and 65535')
    .default(3000),
  HOST: z.string().min(1, 'must not be empty').default('0.0.0.0'),
  UPLOAD_DIR: required.refine(path.isAbsolute, 'must be an absolute path'),
  SESSION_SECRET: required.min(32, 'must be at least 32 characters'),
  ADMIN_PASSWORD: required.min(8, 'must be at least 8 characters'),
  COOKIE_SECURE: z.enum(['true', 'false'], { error: 'must be "true" or "false"' }).default('false'),
  SESSION_IDLE_SECONDS: seconds(30 * 60),
  SESSION_MAX_SECONDS: seconds(12 * 60 * 60),
  // 0 by default: trusting a hop that is not there lets any client choose its address.
  TRUST_PROXY_HOPS: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more').max(5, 'must be at most 5').default(0),
});

export class ConfigError extends Error {}

/** Parses the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = issue?.path.join('.') ?? 'environment';
    throw new ConfigError(`${name}: ${issue?.message ?? 'invalid'}`);
  }
  const e = result.data;
  return {
    databaseUrl: e.DATABASE_URL,
    port: e.PORT,
    host: e.HOST,
    uploadDir: path.resolve(e.UPLOAD_DIR),
    sessionSecret: e.SESSION_SECRET,
    adminPassword: e.ADMIN_PASSWORD,
    cookieSecure: e.COOKIE_SECURE === 'true',
    sessionIdleSeconds: e.SESSION_IDLE_SECONDS,
    sessionMaxSeconds: e.SESSION_MAX_SECONDS,
    trustProxyHops: e.TRUST_PROXY_HOPS,
  };
}
