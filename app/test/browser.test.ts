import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ADMIN_PASSWORD, AppProcess, tempDir } from './support/app.js';
import { createDatabase } from './support/db.js';
import { solidPng } from './support/images.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? '/tmp';

describe('in a browser', function () {
  let app: AppProcess;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    app = await AppProcess.startHealthy(await createDatabase('browser'), tempDir('uploads'));
    context = await chromium.launchPersistentContext(tempDir('chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });
  after(async () => {
    await context?.close();
    await app?.stop();
  });

  const rowWith = (text: string) => page.locator('table.list tbody tr', { hasText: text });

  it('signs in, records a company, a customer with a photo and a visit, and finds them again', async () => {
    await page.goto(`${app.url}/customers`);
    assert.match(page.url(), /\/login\?next=/, 'signed-out users are sent to the sign-in page');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/customers$/);

    await page.getByRole('link', { name: 'Companies' }).click();
    await page.getByRole('link', { name: 'New company' }).click();
    await page.getByLabel('Name').fill('Globex Corporation');
    await page.getByLabel('Website').fill('https://globex.example');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Globex Corporation' }).waitFor();

    const photoFile = path.join(tempDir('photo'), 'grace.png');
    writeFileSync(photoFile, solidPng(120, 120, [36, 86, 199]));
    await page.goto(`${app.url}/customers/new`);
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

    await page.goto(`${app.url}/customers`);
    await page.getByRole('searchbox').fill('grace');
    await page.getByRole('button', { name: 'Search' }).click();
    await rowWith('Grace Hopper').waitFor();
    assert.match(await page.locator('.pager').innerText(), /1 found/);

    await page.goto(`${app.url}/visits?q=renewal`);
    assert.match(await rowWith('Grace Hopper').innerText(), /2025-05-20/);
    await page.goto(`${app.url}/companies?q=globex`);
    assert.match(await rowWith('Globex Corporation').innerText(), /1/);
    await page.goto(`${app.url}/customers?q=nobody-by-this-name`);
    await page.getByText('No customers found.').waitFor();
  });

  it('shows a form error next to the field instead of saving bad input', async () => {
    await page.goto(`${app.url}/customers/new`);
    await page.getByLabel('Name').fill('Bad Email');
    await page.getByLabel('Company').selectOption({ label: 'Globex Corporation' });
    await page.getByLabel('Email').evaluate((el: HTMLInputElement) => (el.type = 'text'));
    await page.getByLabel('Email').fill('not-an-email');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.field.invalid', { hasText: 'Email is not valid' }).waitFor();
    assert.equal(await page.getByLabel('Name').inputValue(), 'Bad Email', 'what was typed is kept');
  });

  it('fits a 390 px phone screen without sideways scrolling', async () => {
    await page.goto(`${app.url}/customers?q=grace`);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'crm-customers-desktop.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    for (const url of ['/customers', '/visits', '/companies', '/tokens', '/customers/new']) {
      await page.goto(`${app.url}${url}`);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `${url} is ${width} px wide`);
    }
    await page.screenshot({ path: path.join(SCREENSHOTS, 'crm-form-phone.png'), fullPage: true });
    const customer = await page.goto(`${app.url}/customers?q=grace`);
    assert.equal(customer?.status(), 200);
    await rowWith('Grace Hopper').getByRole('link', { name: 'Grace Hopper' }).click();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'crm-customer-phone.png'), fullPage: true });
  });
});
