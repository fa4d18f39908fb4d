/**
 * Chromium for the tests, trusting one CA the way a user adds one (an NSS database in its home,
 * where Chromium on Linux looks for added authorities), never by ignoring certificate errors.
 * Used by the app's browser test (HAProxy on loopback) and by the infrastructure's end-to-end
 * test through stackVisit.ts (the deployed stack).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { APP_DIR, tempDir } from './app.js';

const CHROMIUM = '/usr/bin/chromium';

// Kept after the run for a person to look at (git-ignored).
export const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? path.join(APP_DIR, 'test-artifacts');

/** A home whose NSS database trusts `ca` (a PEM file) for TLS servers, and nothing else added. */
function homeTrusting(ca: string): string {
  const home = tempDir('chromium-home');
  const db = `sql:${path.join(home, '.pki/nssdb')}`;
  mkdirSync(path.join(home, '.pki/nssdb'), { recursive: true });
  execFileSync('certutil', ['-N', '-d', db, '--empty-password']);
  execFileSync('certutil', ['-A', '-d', db, '-t', 'C,,', '-n', 'crm-infra test CA', '-i', ca]);
  return home;
}

/** Headless Chromium with a fresh profile whose only added authority is `ca`. */
export async function browserTrusting(ca: string): Promise<BrowserContext> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launchPersistentContext(tempDir('chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, HOME: homeTrusting(ca) },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Straight to the address asked for, whatever proxy the environment names.
      '--no-proxy-server',
    ],
    viewport: { width: 1280, height: 800 },
  });
}

/** Signs in on the sign-in page `page` is on (or was sent to). */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
