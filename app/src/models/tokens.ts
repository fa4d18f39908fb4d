import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import { text } from './fields.js';
import type { User } from './users.js';

export const tokenSchema = z.object({ name: text('Name', 100) });

export interface ApiToken {
  id: number;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

// Tokens carry 256 random bits, so a fast hash is enough to make a leaked table useless.
const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

export async function listTokens(db: pg.Pool, userId: number): Promise<ApiToken[]> {
  return (
    await db.query<ApiToken>('SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY id', [userId])
  ).rows;
}

/** Creates a token and returns its plaintext; only the hash is stored. */
export async function createToken(db: pg.Pool, userId: number, name: string): Promise<string> {
  const token = `crm_${randomBytes(32).toString('base64url')}`;
  await db.query('INSERT INTO api_tokens (user_id, name, token_hash) VALUES ($1, $2, $3)', [userId, name, digest(token)]);
  return token;
}

/** Revokes one of the user's own tokens; false if they have none with that id. */
export async function revokeToken(db: pg.Pool, userId: number, tokenId: number): Promise<boolean> {
  return ((await db.query('DELETE FROM api_tokens WHERE id = $1 AND user_id = $2', [tokenId, userId])).rowCount ?? 0) > 0;
}

export async function userForToken(db: pg.Pool, token: string): Promise<User | undefined> {
  const r = await db.query<User>(
    `UPDATE api_tokens t SET last_used_at = now() FROM users u
     WHERE t.token_hash = $1 AND u.id = t.user_id AND u.disabled_at IS NULL
     RETURNING u.id, u.username, u.display_name, u.role, u.photo, false AS disabled`,
    [digest(token)],
  );
  return r.rows[0];
}
