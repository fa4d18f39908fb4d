import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * The value of one cookie, or undefined (no cookie-parser: only our own few names are read).
 * A value that is not valid percent-encoding (anyone can send any header) counts as absent.
 */
export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decoded(part.slice(eq + 1).trim());
  }
  return undefined;
}

function decoded(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

export interface CookieOptions {
  secure: boolean;
  maxAgeMs?: number;
}

export function setCookie(res: Response, name: string, value: string, opts: CookieOptions): void {
  res.cookie(name, value, { httpOnly: true, sameSite: 'lax', secure: opts.secure, path: '/', ...(opts.maxAgeMs ? { maxAge: opts.maxAgeMs } : {}) });
}

/** Keyed HMAC of `purpose` and `value`, base64url: binds a cookie to this deployment's secret. */
export function sign(secret: string, purpose: string, value: string): string {
  return createHmac('sha256', secret).update(`${purpose}\0${value}`).digest('base64url');
}

export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export const randomId = (): string => randomBytes(18).toString('base64url');
