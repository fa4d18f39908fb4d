import { z } from 'zod';

/** Shared field rules, so forms and the JSON API accept exactly the same input. */

export const text = (label: string, max: number) =>
  z.string({ error: `${label} is required` }).trim().min(1, `${label} is required`).max(max, `${label} is too long`);

export const optionalText = (label: string, max: number) =>
  z.string().trim().max(max, `${label} is too long`).default('');

export const id = (label: string) =>
  z.coerce.number({ error: `Choose a ${label}` }).int().positive(`Choose a ${label}`);

/** HTML checkboxes send "on" when ticked and nothing otherwise; JSON sends a boolean. */
export const checkbox = z.preprocess((v) => v === true || v === 'on' || v === 'true', z.boolean());

export const email = z
  .string()
  .trim()
  .max(200, 'Email is too long')
  .refine((v) => v === '' || z.email().safeParse(v).success, 'Email is not valid')
  .default('');

export const phone = z
  .string()
  .trim()
  .regex(/^[0-9+()\-.\s]{0,40}$/, 'Phone may contain digits, spaces and + ( ) - . only')
  .default('');
