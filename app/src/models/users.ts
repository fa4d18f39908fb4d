import type pg from 'pg';
import { z } from 'zod';
import { hashPassword, verifyPassword } from '../lib/passwords.js';
import { fetchPage, type ListQuery, type Page } from '../lib/pagination.js';
import { checkbox, text } from './fields.js';

export const userSchema = z.object({
  username: z
    .string({ error: 'Username is required' })
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9_.-]{3,40}$/, 'Username must be 3-40 characters: letters, digits, _ . -'),
  display_name: text('Name', 100),
  password: z.string({ error: 'Password is required' }).min(8, 'Password must be at least 8 characters').max(200, 'Password is too long'),
  is_admin: checkbox,
});
export type UserInput = z.infer<typeof userSchema>;

export interface User {
  id: number;
  username: string;
  display_name: string;
  is_admin: boolean;
  photo: string | null;
}

const COLUMNS = 'u.id, u.username, u.display_name, u.is_admin, u.photo';

export function listUsers(db: pg.Pool, list: ListQuery): Promise<Page<User>> {
  return fetchPage<User>(
    db,
    { select: COLUMNS, from: 'users u', where: 'u.username ILIKE $1 OR u.display_name ILIKE $1', orderBy: 'u.display_name, u.id' },
    list,
  );
}

export async function userOptions(db: pg.Pool): Promise<{ id: number; name: string }[]> {
  return (await db.query<{ id: number; name: string }>('SELECT id, display_name AS name FROM users ORDER BY display_name')).rows;
}

export async function getUser(db: pg.Pool, userId: number): Promise<User | undefined> {
  return (await db.query<User>(`SELECT ${COLUMNS} FROM users u WHERE u.id = $1`, [userId])).rows[0];
}

export async function createUser(db: pg.Pool, u: UserInput, photo: string | null): Promise<number> {
  const r = await db.query<{ id: number }>(
    'INSERT INTO users (username, display_name, password_hash, is_admin, photo) VALUES ($1, $2, $3, $4, $5) RETURNING id',
    [u.username, u.display_name, await hashPassword(u.password), u.is_admin, photo],
  );
  return r.rows[0]!.id;
}

/** Creates the `admin` user once; later start-ups (on any server) leave it untouched. */
export async function ensureAdmin(db: pg.Pool, password: string): Promise<void> {
  await db.query(
    `INSERT INTO users (username, display_name, password_hash, is_admin)
     VALUES ('admin', 'Administrator', $1, true) ON CONFLICT (username) DO NOTHING`,
    [await hashPassword(password)],
  );
}

// Verified against when the username is unknown, so both cases take the same time.
const DUMMY_HASH = hashPassword('not-a-real-password');

export async function authenticate(db: pg.Pool, username: string, password: string): Promise<User | undefined> {
  const r = await db.query<User & { password_hash: string }>(
    `SELECT ${COLUMNS}, u.password_hash FROM users u WHERE u.username = $1`,
    [username.trim().toLowerCase()],
  );
  const row = r.rows[0];
  const ok = await verifyPassword(password, row?.password_hash ?? (await DUMMY_HASH));
  if (!row || !ok) return undefined;
  const { password_hash: _hash, ...user } = row;
  return user;
}
