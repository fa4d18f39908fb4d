/**
 * One visit to a deployed stack in Chromium, for the infrastructure's end-to-end test
 * (test/e2e/vnx.test.ts, issue 12: the browser over HTTPS with the stack's CA trusted). Chromium
 * trusts CA_FILE and nothing added besides (browser.ts): it opens http://HOST/login, follows the
 * redirect to HTTPS, there signs in as admin, opens the customers' list and keeps a screenshot of it in
 * SCREENSHOTS/NAME. The password comes in the environment, never on the command line.
 *
 *   ADMIN_PASSWORD=… node --import tsx app/test/support/stackVisit.ts HOST CA_FILE NAME.png
 *
 * Prints what it saw as JSON (see Visit); exits 1 with the error (e.g. Chromium's
 * net::ERR_CERT_AUTHORITY_INVALID) when a step fails.
 */
import path from 'node:path';
import { browserTrusting, SCREENSHOTS, signIn } from './browser.js';

export interface Visit {
  /** Where http://HOST/login ended up. */
  readonly landed: string;
  readonly status: number | undefined;
  readonly protocol: string | undefined;
  /** The certificate's issuer, as Chromium reports it (the CA's common name). */
  readonly issuer: string | undefined;
  readonly hsts: string | undefined;
  readonly cookies: { name: string; secure: boolean }[];
  /** The page after signing in, and its heading. */
  readonly signedIn: string;
  readonly heading: string;
  readonly screenshot: string;
}

async function visit(host: string, ca: string, name: string, password: string): Promise<Visit> {
  const context = await browserTrusting(ca);
  const page = context.pages()[0] ?? (await context.newPage());
  try {
    const response = await page.goto(`http://${host}/login`);
    const tls = await response?.securityDetails();
    const landed = page.url();
    // On where the redirect went: the service's HTTPS.
    const site = new URL(landed).origin;
    await page.goto(`${site}/customers`);
    await signIn(page, 'admin', password);
    await page.waitForURL(/\/customers$/);
    const heading = await page.getByRole('heading', { level: 1 }).innerText();
    const screenshot = path.join(SCREENSHOTS, name);
    await page.screenshot({ path: screenshot, fullPage: true });
    return {
      landed,
      status: response?.status(),
      protocol: tls?.protocol,
      issuer: tls?.issuer,
      hsts: (await response?.allHeaders())?.['strict-transport-security'],
      cookies: (await context.cookies(site)).map((c) => ({ name: c.name, secure: c.secure })),
      signedIn: page.url(),
      heading,
      screenshot,
    };
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n(the page: ${page.url()})`, { cause: e });
  } finally {
    await context.close();
  }
}

const [host, ca, name] = process.argv.slice(2);
const password = process.env.ADMIN_PASSWORD;
if (!host || !ca || !name?.endsWith('.png') || !password) {
  console.error('usage: ADMIN_PASSWORD=… stackVisit.ts HOST CA_FILE NAME.png');
  process.exit(2);
}
visit(host, ca, name, password).then(
  (seen) => console.log(JSON.stringify(seen)),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
