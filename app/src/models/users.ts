import type pg from 'pg';
import { z } from 'zod';
import { inTransaction, prepared } from '../db/pool.js';
import { hashPassword, verifyPassword } from '../lib/passwords.js';
import { fetchAll, fetchPage, Filter, type ListQuery, type Page } from '../lib/pagination.js';
import { text } from './fields.js';

export const ROLES = ['admin', 'manager', 'salesperson'] as const;
export type Role = (typeof ROLES)[number];
export const ROLE_LABELS: Record<Role, string> = { admin: 'Administrator', manager: 'Manager', salesperson: 'Salesperson' };

const username = z
  .string({ error: 'Username is required' })
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9_.-]{3,40}$/, 'Username must be 3-40 characters: letters, digits, _ . -');
export const newPassword = z
  .string({ error: 'Password is required' })
  .min(8, 'Password must be at least 8 characters')
  .max(200, 'Password is too long');
const role = z.enum(ROLES, { error: 'Choose a role' });

export const userSchema = z.object({ username, display_name: text('Name', 100), password: newPassword, role });
export type UserInput = z.infer<typeof userSchema>;

/** What an administrator edits; the password has its own form. */
export const userEditSchema = z.object({ username, display_name: text('Name', 100), role });
export type UserEdit = z.infer<typeof userEditSchema>;

export const passwordChangeSchema = z
  .object({ current_password: z.string({ error: 'Enter your current password' }).min(1, 'Enter your current password').max(200), password: newPassword, confirm: z.string().default('') })
  .refine((v) => v.password === v.confirm, { path: ['confirm'], message: 'The two new passwords differ' });

export const passwordResetSchema = z.object({ password: newPassword });

export interface User {
  id: number;
  username: string;
  display_name: string;
  role: Role;
  photo: string | null;
  disabled: boolean;
}

const COLUMNS = 'u.id, u.username, u.display_name, u.role, u.photo, u.disabled_at IS NOT NULL AS disabled';
/** A User's columns, from `users u`. */
export const USER_COLUMNS = COLUMNS;
/** Joins a session row `s` to its user `u` if that user is enabled (the sign-in check of every request). */
export const ACTIVE_USER_JOIN = "LEFT JOIN users u ON u.id = (s.sess->>'userId')::int AND u.disabled_at IS NULL";

const USER_LIST = { select: COLUMNS, from: 'users u', orderBy: 'u.display_name, u.id' };
const userFilter = (list: ListQuery) => new Filter().search(
    list.q,
    (p) => `u.username ILIKE ${p}`,
    (p) => `u.display_name ILIKE ${p}`,
  );

export function listUsers(db: pg.Pool, list: ListQuery): Promise<Page<User>> {
  return fetchPage<User>(db, USER_LIST, userFilter(list), list.page);
}

export function exportUsers(db: pg.Pool, list: ListQuery): Promise<User[]> {
  return fetchAll<User>(db, USER_LIST, userFilter(list));
}

/** Active users, for "salesperson" choices. */
export async function userOptions(db: pg.Pool): Promise<{ id: number; name: string }[]> {
  return (
    await db.query<{ id: number; name: string }>(prepared('SELECT id, display_name AS name FROM users WHERE disabled_at IS NULL ORDER BY display_name', []))
  ).rows;
}

export async function getUser(db: pg.Pool, userId: number): Promise<User | undefined> {
  return (await db.query<User>(`SELECT ${COLUMNS} FROM users u WHERE u.id = $1`, [userId])).rows[0];
}

/** The user behind a session, or undefined when deleted or disabled (signed out at once). */
export async function getActiveUser(db: pg.Pool, userId: number): Promise<User | undefined> {
  return (await db.query<User>(`SELECT ${COLUMNS} FROM users u WHERE u.id = $1 AND u.disabled_at IS NULL`, [userId])).rows[0];
}

export async function createUser(db: pg.Pool, u: UserInput, photo: string | null): Promise<number> {
  const r = await db.query<{ id: number }>(
    `INSERT INTO users (username, display_name, password_hash, role, photo)
     VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [u.username, u.display_name, await hashPassword(u.password), u.role, photo],
  );
  return r.rows[0]!.id;
}

/** Updates name and role; a null photo keeps the current one. */
export async function updateUser(db: pg.Pool, userId: number, u: UserEdit, photo: string | null): Promise<void> {
  await db.query(
    `UPDATE users SET username = $2, display_name = $3, role = $4, photo = COALESCE($5, photo) WHERE id = $1`,
    [userId, u.username, u.display_name, u.role, photo],
  );
}

export async function setUserPhoto(db: pg.Pool, userId: number, photo: string): Promise<void> {
  await db.query('UPDATE users SET photo = $2 WHERE id = $1', [userId, photo]);
}

/**
 * Disables or re-enables a user. Disabling deletes their sessions and API tokens, so
 * nothing they hold keeps working (the session check also refuses disabled users).
 */
export async function setUserDisabled(db: pg.Pool, userId: number, disabled: boolean): Promise<void> {
  await inTransaction(db, async (client) => {
    await client.query(`UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END WHERE id = $1`, [userId, disabled]);
    if (disabled) {
      await client.query('DELETE FROM api_tokens WHERE user_id = $1', [userId]);
      await client.query(`DELETE FROM session WHERE (sess->>'userId')::int = $1`, [userId]);
    }
  });
}

/** Sets a new password and signs the user out everywhere except `keepSession`. */
export async function setPassword(db: pg.Pool, userId: number, password: string, keepSession?: string): Promise<void> {
  await db.query('UPDATE users SET password_hash = $2 WHERE id = $1', [userId, await hashPassword(password)]);
  await db.query(`DELETE FROM session WHERE (sess->>'userId')::int = $1 AND sid IS DISTINCT FROM $2`, [userId, keepSession ?? null]);
}

/**
 * What a known-device mark is bound to: the password hash, which every new password
 * replaces (a fresh salt). Undefined for an unknown or disabled user.
 */
export async function deviceStamp(db: pg.Pool, username: string): Promise<string | undefined> {
  const r = await db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE username = $1 AND disabled_at IS NULL', [username]);
  return r.rows[0]?.password_hash;
}

export async function checkPassword(db: pg.Pool, userId: number, password: string): Promise<boolean> {
  const r = await db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [userId]);
  return verifyPassword(password, r.rows[0]?.password_hash ?? (await dummyHash()));
}

/** Creates the `admin` user once; later start-ups (on any server) leave it untouched. */
export async function ensureAdmin(db: pg.Pool, password: string): Promise<void> {
  const exists = await db.query("SELECT 1 FROM users WHERE username = 'admin'");
  if (exists.rowCount) return;
  await db.query(
    `INSERT INTO users (username, display_name, password_hash, role)
     VALUES ('admin', 'Administrator', $1, 'admin') ON CONFLICT (username) DO NOTHING`,
    [await hashPassword(password)],
  );
}

// Verified against when the username is unknown, so both cases take the same time.
// Created on first use, so importing this module costs no hash.
let DUMMY_HASH: Promise<string> | undefined;
const dummyHash = (): Promise<string> => (DUMMY_HASH ??= hashPassword('not-a-real-password'));

/** The user if the password is right and the account is enabled; one password check either way. */
export async function authenticate(db: pg.Pool, name: string, password: string): Promise<User | undefined> {
  const r = await db.query<User & { password_hash: string }>(`SELECT ${COLUMNS}, u.password_hash FROM users u WHERE u.username = $1`, [
    name.trim().toLowerCase(),
  ]);
  const row = r.rows[0];
  const ok = await verifyPassword(password, row?.password_hash ?? (await dummyHash()));
  if (!row || !ok || row.disabled) return undefined;
  const { password_hash: _hash, ...user } = row;
  return user;
}
