import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { ADMIN_PASSWORD, APP_DIR, AppProcess, tempDir } from './support/app.js';
import { browserTrusting, SCREENSHOTS, signIn } from './support/browser.js';
import { createDatabase, queryOnce } from './support/db.js';
import { createSalesTeam } from './support/fixtures.js';
import { solidPng } from './support/images.js';

const PROJECT = path.resolve(APP_DIR, '..');

interface Front {
  ca: string;
  config: string;
  http: number;
  https: number;
}

/**
 * HAProxy on loopback in front of the app, as the stack's balancer is (issue 12): its haproxy.cfg
 * and its certificate (for 127.0.0.1, from a CA made for the run) come from the project's own code
 * (test/support/httpsFront.ts), so the browser meets the same TLS, redirect and headers as users.
 */
async function httpsFront(backend: string): Promise<{ front: Front; haproxy: ChildProcess }> {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/support/httpsFront.ts', backend, tempDir('https-front')], {
    cwd: PROJECT,
    encoding: 'utf8',
  });
  const front = JSON.parse(out) as Front;
  const haproxy = spawn('haproxy', ['-db', '-f', front.config], { stdio: 'ignore' });
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect(front.https, '127.0.0.1', () => resolve(socket.end() !== undefined));
      socket.on('error', () => resolve(false));
    });
  for (let i = 0; i < 100 && !(await listening()); i++) await new Promise((r) => setTimeout(r, 100));
  return { front, haproxy };
}

describe('in a browser', function () {
  let app: AppProcess;
  let context: BrowserContext;
  let page: Page;
  let databaseUrl: string;
  let haproxy: ChildProcess | undefined;
  let front: Front;
  /** Where the browser goes: HTTPS through the front. The fixtures talk to the app directly (app.url). */
  let site: string;

  before(async () => {
    databaseUrl = await createDatabase('browser');
    app = await AppProcess.startHealthy(databaseUrl, tempDir('uploads'));
    ({ front, haproxy } = await httpsFront(new URL(app.url).host));
    site = `https://127.0.0.1:${front.https}`;
    // The CA is trusted the way a user adds one, not by ignoring certificate errors.
    context = await browserTrusting(front.ca);
    page = context.pages()[0] ?? (await context.newPage());
  });
  after(async () => {
    await context?.close();
    haproxy?.kill();
    await app?.stop();
  });

  const rowWith = (text: string) => page.locator('table.list tbody tr', { hasText: text });

  it('reaches the CRM over HTTPS: plain HTTP is redirected, the certificate chains to the trusted CA, cookies are Secure', async () => {
    const response = await page.goto(`http://127.0.0.1:${front.http}/login`);
    assert.equal(page.url(), `${site}/login`);
    assert.equal(response?.status(), 200);
    const tls = await response!.securityDetails();
    assert.match(tls?.protocol ?? '', /^TLS 1\.[23]$/);
    assert.equal(tls?.issuer, 'crm-infra browser-test CA');
    assert.match((await response!.allHeaders())['strict-transport-security'] ?? '', /max-age=\d+/);
    const cookies = await context.cookies(site);
    assert.ok(cookies.length > 0 && cookies.every((c) => c.secure), JSON.stringify(cookies));
    assert.ok(readFileSync(front.ca, 'utf8').startsWith('-----BEGIN CERTIFICATE-----'));
  });

  it('signs in, records a company, a customer with a photo and a visit, and finds them again', async () => {
    await page.goto(`${site}/customers`);
    assert.match(page.url(), /\/login\?next=/, 'signed-out users are sent to the sign-in page');
    await signIn(page, 'admin', ADMIN_PASSWORD);
    await page.waitForURL(/\/customers$/);

    await page.getByRole('link', { name: 'Companies' }).click();
    await page.getByRole('link', { name: 'New company' }).click();
    await page.getByLabel('Name').fill('Globex Corporation');
    await page.getByLabel('Website').fill('https://globex.example');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Globex Corporation' }).waitFor();

    const photoFile = path.join(tempDir('photo'), 'grace.png');
    writeFileSync(photoFile, solidPng(120, 120, [36, 86, 199]));
    await page.goto(`${site}/customers/new`);
    await page.getByLabel('Name').fill('Grace Hopper');
    await page.getByLabel('Company').selectOption({ label: 'Globex Corporation' });
    await page.getByLabel('Email').fill('grace@globex.example');
    await page.getByLabel('Phone').fill('+1 555 0100');
    await page.locator('input[type=file]').setInputFiles(photoFile);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Grace Hopper' }).waitFor();
    const photoWidth = await page.locator('img.avatar.large').evaluate((img: HTMLImageElement) => img.naturalWidth);
    assert.equal(photoWidth, 120, 'the uploaded photo is displayed');

    await page.getByRole('link', { name: 'Record visit' }).click();
    await page.getByLabel('Date').fill('2025-05-20');
    await page.getByLabel('Notes').fill('Discussed the renewal of the support contract');
    await page.getByLabel('Done').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Grace Hopper' }).waitFor();
    await rowWith('renewal of the support contract').waitFor();
    assert.match(await rowWith('renewal').innerText(), /Done/);

    await page.goto(`${site}/customers`);
    await page.getByRole('searchbox').fill('grace');
    await page.getByRole('button', { name: 'Search' }).click();
    await rowWith('Grace Hopper').waitFor();
    assert.match(await page.locator('.pager').innerText(), /1 found/);

    await page.goto(`${site}/visits?q=renewal`);
    assert.match(await rowWith('Grace Hopper').innerText(), /2025-05-20/);
    await page.goto(`${site}/companies?q=globex`);
    assert.match(await rowWith('Globex Corporation').innerText(), /1/);
    await page.goto(`${site}/customers?q=nobody-by-this-name`);
    await page.getByText('No customers found.').waitFor();
  });

  it('shows a form error next to the field instead of saving bad input', async () => {
    await page.goto(`${site}/customers/new`);
    await page.getByLabel('Name').fill('Bad Email');
    await page.getByLabel('Company').selectOption({ label: 'Globex Corporation' });
    await page.getByLabel('Email').evaluate((el: HTMLInputElement) => (el.type = 'text'));
    await page.getByLabel('Email').fill('not-an-email');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.field.invalid', { hasText: 'Email is not valid' }).waitFor();
    assert.equal(await page.getByLabel('Name').inputValue(), 'Bad Email', 'what was typed is kept');
  });

  it('fits a 390 px phone screen without sideways scrolling', async () => {
    await page.goto(`${site}/customers?q=grace`);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'crm-customers-desktop.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    for (const url of ['/customers', '/visits', '/companies', '/tokens', '/customers/new']) {
      await page.goto(`${site}${url}`);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `${url} is ${width} px wide`);
    }
    await page.screenshot({ path: path.join(SCREENSHOTS, 'crm-form-phone.png'), fullPage: true });
    const customer = await page.goto(`${site}/customers?q=grace`);
    assert.equal(customer?.status(), 200);
    await rowWith('Grace Hopper').getByRole('link', { name: 'Grace Hopper' }).click();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'crm-customer-phone.png'), fullPage: true });
  });

  it("a salesperson's day: dashboard, my pending visits, mark one done, a customer photo, and no editing another's visit", async () => {
    const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `crm-day-${name}.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    const { alice: aliceId, bob: bobId } = (await createSalesTeam(app.url)).ids;
    const [company] = await queryOnce<{ id: number }>(databaseUrl, "INSERT INTO companies (name) VALUES ('Initech') RETURNING id");
    const [customer] = await queryOnce<{ id: number }>(databaseUrl, "INSERT INTO customers (company_id, name) VALUES ($1, 'Peter Gibbons') RETURNING id", [company!.id]);
    const day = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
    const visit = async (who: number, date: string, notes: string, done = false) =>
      (await queryOnce<{ id: number }>(databaseUrl, 'INSERT INTO visits (customer_id, salesperson_id, visit_date, notes, done) VALUES ($1, $2, $3, $4, $5) RETURNING id', [customer!.id, who, date, notes, done]))[0]!.id;
    await visit(aliceId, day(1), 'Demo of the TPS report module');
    await visit(aliceId, day(3), 'Contract renewal talk');
    await visit(aliceId, day(-10), 'First meeting', true);
    const bobsVisit = await visit(bobId, day(2), 'Bob follows up on pricing');

    await context.clearCookies();
    await page.goto(`${site}/`);
    await signIn(page, 'alice', 'alice-password');
    await page.getByRole('heading', { name: 'Hello, Alice' }).waitFor();
    assert.equal(await page.locator('#pending-count').innerText(), '2');
    assert.match(await page.locator('table.list').innerText(), /Demo of the TPS report module[^]*Contract renewal talk/);
    assert.doesNotMatch(await page.locator('table.list').innerText(), /Bob follows up|First meeting/);
    await shot('1-dashboard');

    await page.getByRole('link', { name: 'Visits', exact: true }).click();
    await page.getByRole('link', { name: 'My pending visits' }).click();
    await page.getByRole('heading', { name: 'My visits' }).waitFor();
    assert.equal(await page.locator('table.list tbody tr').count(), 2, 'only my two pending visits');
    await shot('2-my-pending-visits');
    await rowWith('Demo of the TPS report module').getByRole('button', { name: 'Mark done' }).click();
    await page.waitForURL(/\/visits\?/);
    assert.equal(await page.locator('table.list tbody tr').count(), 1, 'the done visit left the pending list');
    await shot('3-marked-done');
    await page.goto(`${site}/`);
    assert.equal(await page.locator('#pending-count').innerText(), '1');

    const photoFile = path.join(tempDir('photo'), 'peter.png');
    writeFileSync(photoFile, solidPng(90, 90, [200, 120, 30]));
    await page.goto(`${site}/customers/${customer!.id}`);
    await page.getByRole('link', { name: 'Edit' }).first().click();
    await page.locator('input[type=file]').setInputFiles(photoFile);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Peter Gibbons' }).waitFor();
    assert.equal(await page.locator('img.avatar.large').evaluate((img: HTMLImageElement) => img.naturalWidth), 90);
    assert.equal(await rowWith('Bob follows up').getByRole('link', { name: 'Edit' }).count(), 0, "no Edit link on Bob's visit");
    await shot('4-customer-photo');

    const forbidden = await page.goto(`${site}/visits/${bobsVisit}/edit`);
    assert.equal(forbidden?.status(), 403);
    await page.getByText('You are not allowed to do this.').waitFor();
    await shot('5-not-allowed');
  });
});
